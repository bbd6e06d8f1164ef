/**
 * The reference host's configuration schema. Every default is the safe one; anything unsafe has to
 * be written out.
 *
 * @packageDocumentation
 */
import {
  isLoopbackHost,
  MAX_PASSWORD_LENGTH,
  MAX_USERNAME_LENGTH,
  normalizeUsername,
} from '@authbridge/core';
import { CLIENT_ASSERTION_ALGORITHMS } from '@authbridge/rest';
import { z } from 'zod';

// `${ENV}` interpolation gives strings, so a number or a boolean set from the environment arrives
// as one ("8080", "true"): such a string, and only a whole one, is read as the value it spells.
const NUMERIC = /^-?\d+(\.\d+)?$/;

function fromEnv<T extends z.ZodType>(schema: T): z.ZodPreprocess<T> {
  return z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    const text = value.trim();
    if (NUMERIC.test(text)) return Number(text);
    if (text === 'true') return true;
    if (text === 'false') return false;
    return value;
  }, schema);
}

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;
// Longer timers fire at once in Node (TimeoutOverflowWarning): a drain timeout would cut at 1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1;

const permissionList = z.array(
  z.string().regex(/^[^.\s]+\.[^\s]+$/, 'permissions look like app_label.codename'),
);

/** A local username/password account created at start-up if missing (break-glass admin, demo). */
const localUser = z
  .object({
    // The local backend's own bounds: a name it would refuse at every login is refused here.
    username: z
      .string()
      .max(MAX_USERNAME_LENGTH)
      .refine((name) => name.trim() !== '', 'a username must not be blank'),
    password: z
      .string()
      .min(12, 'passwords in config must be at least 12 characters')
      .max(MAX_PASSWORD_LENGTH),
    isSuperuser: fromEnv(z.boolean()).default(false),
    isStaff: fromEnv(z.boolean()).default(false),
    groups: z.array(z.string()).default([]),
    permissions: permissionList.default([]),
  })
  .strict();

const localBackend = z
  .object({
    type: z.literal('local'),
    id: z.string().min(1).default('local'),
    groupPermissions: z.record(z.string(), permissionList).default({}),
    users: z
      .array(localUser)
      .default([])
      .superRefine((users, ctx) => {
        // A second entry for a name would be skipped at start-up, its password and flags unused;
        // names are compared as the store keeps them (`ａｄｍｉｎ` is `admin`).
        const seen = new Set<string>();
        users.forEach((user, i) => {
          const name = normalizeUsername(user.username);
          if (seen.has(name)) {
            ctx.addIssue({
              code: 'custom',
              path: [i, 'username'],
              message: `duplicate username "${user.username}"`,
            });
          }
          seen.add(name);
        });
      }),
  })
  .strict();

/** A boolean query over group DNs: a DN, or `{ and | or: [...] }`, or `{ not: ... }`. */
type GroupQuery = string | { and: GroupQuery[] } | { or: GroupQuery[] } | { not: GroupQuery };
const groupQuery: z.ZodType<GroupQuery> = z.lazy(() =>
  z.union([
    z.string().min(1),
    z.object({ and: z.array(groupQuery).min(1) }).strict(),
    z.object({ or: z.array(groupQuery).min(1) }).strict(),
    z.object({ not: groupQuery }).strict(),
  ]),
);
const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/** `@authbridge/ldap`; deeper rules (DN syntax, filters) are checked by the backend itself. */
const ldapBackend = z
  .object({
    type: z.literal('ldap'),
    id: z.string().min(1).default('ldap'),
    url: stringOrList,
    startTls: fromEnv(z.boolean()).optional(),
    /** Plaintext LDAP: must be written out, never a default. */
    allowInsecure: fromEnv(z.boolean()).default(false),
    preset: z.enum(['openldap', 'activedirectory', 'freeipa', '389ds']).optional(),
    tls: z
      .object({
        /** PEM file of the CA(s) to pin. */
        caFile: z.string().min(1).optional(),
        servername: z.string().min(1).optional(),
        minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).optional(),
      })
      .strict()
      .optional(),
    bindDn: z.string().min(1).optional(),
    bindPassword: z.string().min(1).optional(),
    userSearch: z
      .object({
        base: stringOrList,
        scope: z.enum(['sub', 'one']).optional(),
        filter: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    userDnTemplate: z.string().min(1).optional(),
    /**
     * Active Directory: bind as `{username}@domain` (a UPN) or `DOMAIN\{username}`, then read the
     * user's own entry under `userSearch.base` (which it needs); no service account required.
     */
    userBindName: z.string().min(1).optional(),
    usernameAttribute: z.string().min(1).optional(),
    idAttribute: z.string().min(1).optional(),
    /** The identity links' issuer. Default `ldap`; changing it relinks nobody (see the package). */
    issuer: z.string().min(1).optional(),
    groups: z
      .object({
        base: stringOrList.optional(),
        strategies: z
          .array(z.enum(['memberOf', 'member', 'uniqueMember', 'posix', 'inChain']))
          .min(1)
          .optional(),
        nested: fromEnv(z.boolean()).optional(),
        maxDepth: fromEnv(z.number().int().positive()).optional(),
      })
      .strict()
      .optional(),
    requireGroup: groupQuery.optional(),
    denyGroup: groupQuery.optional(),
    userFlagsByGroup: z
      .object({
        isActive: groupQuery.optional(),
        isStaff: groupQuery.optional(),
        isSuperuser: groupQuery.optional(),
      })
      .strict()
      .optional(),
    groupPermissions: z.record(z.string(), permissionList).optional(),
    noNewUsers: fromEnv(z.boolean()).optional(),
    updateUsers: z.enum(['always', 'never']).optional(),
    timeoutMs: fromEnv(z.number().int().positive()).optional(),
    poolSize: fromEnv(z.number().int().positive()).optional(),
    /** Caches, each off (0) by default; a TTL is also how long a directory change goes unseen. */
    cache: z
      .object({
        dnTtlMs: fromEnv(z.number().int().min(0)).optional(),
        groupTtlMs: fromEnv(z.number().int().min(0)).optional(),
        credentialTtlMs: fromEnv(z.number().int().min(0)).optional(),
        maxEntries: fromEnv(z.number().int().positive()).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** How the REST backend authenticates to the introspection endpoint. */
const clientAuth = z.discriminatedUnion('method', [
  z
    .object({
      method: z.enum(['client_secret_basic', 'client_secret_post']),
      clientId: z.string().min(1),
      clientSecret: z.string().min(1),
    })
    .strict(),
  /** A client assertion (RFC 7523) signed with the key in a PEM file, fresh for every request. */
  z
    .object({
      method: z.literal('private_key_jwt'),
      clientId: z.string().min(1),
      /** PEM file of the unencrypted private key (PKCS#8, PKCS#1 or SEC 1); read at start-up. */
      privateKeyFile: z.string().min(1),
      /** Must fit the key: RS and PS an RSA key of 2048 bits or more, ES256 P-256... */
      algorithm: z.enum(CLIENT_ASSERTION_ALGORITHMS),
      /** The `kid` header, when the server needs it to pick the key. */
      keyId: z.string().min(1).optional(),
      /** The assertion's `aud`. Default the mode's `issuer`. */
      audience: z.string().min(1).optional(),
      /** Assertion lifetime. Default 60 s. */
      lifetimeSec: fromEnv(z.number().int().positive()).optional(),
    })
    .strict(),
]);
const audience = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/** `@authbridge/rest`: which service vouches for tokens, and how. */
const restMode = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('introspection'),
      endpoint: z.url(),
      issuer: z.string().min(1),
      /** The audience tokens must carry; `null` must be written out to accept any. */
      audience: z.union([audience, z.null()]),
      clientAuth,
      allowedClientIds: z.array(z.string().min(1)).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('jwt'),
      issuer: z.string().min(1),
      audience,
      jwksUri: z.url(),
      algorithms: z.array(z.string().min(1)).min(1).optional(),
      allowedClientIds: z.array(z.string().min(1)).optional(),
    })
    .strict(),
]);

const restBackend = z
  .object({
    type: z.literal('rest'),
    id: z.string().min(1).default('rest'),
    mode: restMode,
    deadlineMs: fromEnv(z.number().int().positive().max(30_000)).optional(),
    cache: z
      .union([
        fromEnv(z.literal(false)),
        z
          .object({
            ttlMs: fromEnv(z.number().int().positive()).optional(),
            negativeTtlMs: fromEnv(z.number().int().positive()).optional(),
            maxEntries: fromEnv(z.number().int().positive()).optional(),
          })
          .strict(),
      ])
      .optional(),
    permissions: z
      .object({
        scopeMap: z.record(z.string(), permissionList).optional(),
        scopePrefix: z.string().optional(),
      })
      .strict()
      .optional(),
    /** Fail open when the token service is down: must be written out, and is logged on every use. */
    dangerouslyFailOpen: fromEnv(z.boolean()).default(false),
    /** Plain-http token service beyond loopback: must be written out. */
    allowInsecureHttp: fromEnv(z.boolean()).default(false),
    /** Sender-constrained tokens (cnf) accepted as bearer: only behind a gateway that checked. */
    dangerouslyIgnoreCnf: fromEnv(z.boolean()).default(false),
  })
  .strict();

/** How one profile field is read from an assertion attribute (`AttributeRule`). */
const samlAttributeRule = z
  .object({
    /** The attribute's Name: a URI, a `urn:oid:` OID, or a plain name. */
    name: z.string().min(1),
    friendlyNames: z.array(z.string().min(1)).optional(),
    cardinality: z.enum(['single', 'multiple']).optional(),
    required: fromEnv(z.boolean()).optional(),
  })
  .strict();

/**
 * Which attributes fill which profile fields (`AttributeMapping`); fields without a rule are left
 * alone. The backend refuses the rest (a reserved `extra` key, a single-valued `groups`).
 */
const samlAttributes = z
  .object({
    username: samlAttributeRule.optional(),
    email: samlAttributeRule.optional(),
    displayName: samlAttributeRule.optional(),
    groups: samlAttributeRule.optional(),
    /** Further attributes kept in the user's `attributes`, by key. */
    extra: z
      .preprocess(
        (value, ctx) => {
          // zod leaves an own `__proto__` key out of a record without a word: refuse it, not lose it.
          if (typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__')) {
            ctx.addIssue({
              code: 'custom',
              path: ['__proto__'],
              message: 'reserved key',
              input: value,
            });
          }
          return value;
        },
        z.record(z.string(), samlAttributeRule),
      )
      .optional(),
  })
  .strict();

/** One SAML identity provider. Its ACS URL is `<server.publicUrl>/saml/<id>/acs`. */
const samlIdp = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'IdP ids are lower-case letters, digits, - and _'),
    entityId: z.string().min(1),
    ssoUrl: z.url(),
    sloUrl: z.url().optional(),
    /** PEM files of the IdP's signing certificates (several during a key rollover). */
    signingCertFiles: z.array(z.string().min(1)).min(1),
    displayName: z.string().min(1).optional(),
    emailDomains: z.array(z.string().min(1)).optional(),
    /** Unsolicited responses: off unless written out. */
    allowIdpInitiated: fromEnv(z.boolean()).default(false),
    requiredAuthnContext: z.array(z.string().min(1)).optional(),
    forceAuthn: fromEnv(z.boolean()).optional(),
    authnRequestBinding: z.enum(['redirect', 'post']).optional(),
    /** Binding of the IdP's SingleLogoutService for the messages we send. Default redirect. */
    sloBinding: z.enum(['redirect', 'post']).optional(),
    signAuthnRequests: fromEnv(z.boolean()).optional(),
    /** This IdP's attribute mapping, instead of (not merged with) the backend's `attributes`. */
    attributes: samlAttributes.optional(),
  })
  .strict();

/** `@authbridge/saml`: a service provider for one or several IdPs. */
const samlBackend = z
  .object({
    type: z.literal('saml'),
    id: z.string().min(1).default('saml'),
    sp: z
      .object({
        entityId: z.string().min(1),
        /** PEM private key to sign AuthnRequests, logout messages and metadata. */
        signingKeyFile: z.string().min(1).optional(),
        signingCertFiles: z.array(z.string().min(1)).optional(),
      })
      .strict(),
    idps: z.array(samlIdp).min(1),
    /** The attribute mapping of every IdP without its own. Default none: only the NameID is read. */
    attributes: samlAttributes.optional(),
    /** Plain-http IdP endpoints beyond loopback (a password typed in clear): must be written out. */
    allowInsecureHttp: fromEnv(z.boolean()).default(false),
    clockSkewMs: fromEnv(z.number().int().min(0).max(600_000)).optional(),
    maxSessionMs: fromEnv(z.number().int().positive()).optional(),
  })
  .strict();

/** The backend chain, in order. */
const backend = z.discriminatedUnion('type', [localBackend, ldapBackend, restBackend, samlBackend]);

export const configSchema = z
  .object({
    server: z
      .object({
        // Not empty: `listen(port, '')` binds every interface, the opposite of the default.
        host: z.string().min(1, 'host must name an address').default('127.0.0.1'),
        port: fromEnv(z.number().int().min(0).max(65535)).default(8080),
        /**
         * The URL people reach the host at; SAML ACS URLs are built from it, never from Host. A
         * base: no query, fragment or credentials (each endpoint is appended to it).
         */
        publicUrl: z
          .url()
          .refine((text) => {
            // Runs even when z.url() has refused the text already: what does not parse is its.
            const url = parseUrl(text);
            return (
              url === undefined ||
              (url.search === '' && url.hash === '' && url.username === '' && url.password === '')
            );
          }, 'publicUrl is a base URL: no query, fragment or credentials')
          .optional(),
        /** A plain-http publicUrl beyond loopback (assertions in clear): must be written out. */
        allowInsecureHttp: fromEnv(z.boolean()).default(false),
        /**
         * Trust X-Forwarded-* (only behind proxies that set them): `true` for one proxy, or how
         * many there are in a row. The client address is the one the outermost of them saw:
         * entries a client put in X-Forwarded-For itself are never believed.
         */
        trustProxy: fromEnv(z.union([z.boolean(), z.number().int().min(1).max(10)])).default(false),
        /** HMAC secret for session hashes: at least 32 characters, from `${ENV}` in production. */
        secret: z.string().min(32, 'secret must be at least 32 characters'),
        /** At most a year: a cookie's Max-Age and expiry dates must stay representable. */
        sessionMaxAgeMs: fromEnv(z.number().int().positive().max(YEAR_MS)).default(
          8 * 60 * 60 * 1000,
        ),
        /** How long shutdown waits for in-flight requests; at most a Node timer's 24.8 days. */
        shutdownTimeoutMs: fromEnv(z.number().int().positive().max(MAX_TIMER_MS)).default(10_000),
      })
      .strict(),
    stores: z
      .object({
        /** `sqlite` (default, an embedded file) or `memory` (tests and demos: lost on restart). */
        kind: z.enum(['sqlite', 'memory']).default('sqlite'),
        path: z.string().min(1).default('./authbridge.db'),
        /**
         * The SQLite stores' read caches for sessions and users (see `SqliteReadCacheOptions`):
         * `false` reads the file every time; `coherenceMs` bounds how long another process's
         * commit (a logout, a deactivated user) can go unseen here. Default on, 10 ms.
         */
        readCache: z
          .union([
            fromEnv(z.literal(false)),
            z
              .object({
                maxEntries: fromEnv(z.number().int().positive()).optional(),
                coherenceMs: fromEnv(z.number().int().min(0)).optional(),
              })
              .strict(),
          ])
          .optional(),
      })
      .strict()
      .default({ kind: 'sqlite', path: './authbridge.db' }),
    backends: z.array(backend).min(1, 'declare at least one backend'),
    logging: z
      .object({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()
  .superRefine((config, ctx) => {
    // The session remembers which backend logged a user in, by id: ids name one backend each.
    const seen = new Set<string>();
    config.backends.forEach((backend, index) => {
      if (seen.has(backend.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['backends', index, 'id'],
          message: `duplicate backend id "${backend.id}" (give each backend its own id)`,
        });
      }
      seen.add(backend.id);
    });
    // An IdP's routes are /saml/<idp id>/...: the id names one IdP across every SAML backend.
    const idps = new Set<string>();
    config.backends.forEach((backend, index) => {
      if (backend.type !== 'saml') return;
      backend.idps.forEach((idp, i) => {
        if (idps.has(idp.id)) {
          ctx.addIssue({
            code: 'custom',
            path: ['backends', index, 'idps', i, 'id'],
            message: `duplicate IdP id "${idp.id}" (its routes are /saml/${idp.id}/...: give each IdP its own id)`,
          });
        }
        idps.add(idp.id);
      });
    });
    // Plain http beyond this machine sends assertions to our ACS in clear: allowed only when the
    // config says so, as for REST and LDAP (a SAML backend checks its IdPs' URLs itself).
    const publicUrl = config.server.publicUrl;
    if (publicUrl !== undefined && insecureRemote(publicUrl) && !config.server.allowInsecureHttp) {
      ctx.addIssue({
        code: 'custom',
        path: ['server', 'publicUrl'],
        message: 'must be https (or set server.allowInsecureHttp: true for plain http)',
      });
    }
    // SAML endpoints are built from the configured public URL, never from the Host header.
    if (config.backends.some((b) => b.type === 'saml') && config.server.publicUrl === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['server', 'publicUrl'],
        message: 'required when a saml backend is configured',
      });
    }
  });

/** `text` as a URL, or undefined when it is none (z.url() names that problem). */
function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** Whether `text` is a plain-http URL to somewhere other than this machine. */
function insecureRemote(text: string): boolean {
  const url = parseUrl(text);
  return url?.protocol === 'http:' && !isLoopbackHost(url.hostname);
}

/** The validated, fully-defaulted configuration. */
export type HostConfig = z.infer<typeof configSchema>;
/** A backend entry of the configuration. */
export type BackendConfig = HostConfig['backends'][number];
