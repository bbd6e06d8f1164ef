// A real OAuth 2.0 authorization server for the integration tests: oidc-provider on 127.0.0.1,
// port 0, with client credentials, introspection, revocation and resource indicators (one
// resource server with opaque tokens, one with RFC 9068 JWT access tokens). Optionally served
// over HTTPS with client-certificate (mTLS) client authentication.
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

// oidc-provider's storage contract, in memory, so it does not warn about its own dev adapter.
class MemoryAdapter {
  static readonly #store = new Map<
    string,
    { payload: Record<string, unknown>; expiresAt: number }
  >();
  readonly #name: string;

  constructor(name: string) {
    this.#name = name;
  }

  #key(id: string): string {
    return `${this.#name}:${id}`;
  }

  async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
    MemoryAdapter.#store.set(this.#key(id), {
      payload,
      expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY,
    });
  }

  async find(id: string): Promise<Record<string, unknown> | undefined> {
    const entry = MemoryAdapter.#store.get(this.#key(id));
    return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
  }

  async findByUserCode(): Promise<undefined> {
    return undefined;
  }

  async findByUid(): Promise<undefined> {
    return undefined;
  }

  async consume(id: string): Promise<void> {
    const entry = MemoryAdapter.#store.get(this.#key(id));
    if (entry) entry.payload['consumed'] = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    MemoryAdapter.#store.delete(this.#key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [key, entry] of MemoryAdapter.#store) {
      if (entry.payload['grantId'] === grantId) MemoryAdapter.#store.delete(key);
    }
  }
}

/** The resource (RFC 8707) whose tokens are opaque: checked by introspection. */
export const API_RESOURCE = 'https://api.test';
/** The resource whose tokens are RFC 9068 JWT access tokens. */
export const JWT_RESOURCE = 'https://jwt.test';
/** A resource no backend under test accepts (audience checks). */
export const OTHER_RESOURCE = 'https://other.test';

/** The resource-server client that introspects with `client_secret_basic`. */
export const RS_BASIC = { clientId: 'rs-basic', clientSecret: 'rs-basic-secret-0123456789abcdef' };
/** The resource-server client that introspects with `client_secret_post`. */
export const RS_POST = { clientId: 'rs-post', clientSecret: 'rs-post-secret-0123456789abcdef' };
/** The resource-server client that introspects with `private_key_jwt`. */
export const RS_JWT = 'rs-jwt';
/** The resource-server client that introspects with `tls_client_auth` (over HTTPS only). */
export const RS_MTLS = 'rs-mtls';
/** The app clients that mint tokens by client credentials. */
export const APPS = ['app-1', 'app-2', 'app-3'] as const;
const APP_SECRET = 'app-secret-0123456789abcdef0123';

/** The certificate the provider serves over HTTPS and the CA that signed it (PEM). */
export interface TlsServerMaterial {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** A running authorization server: its endpoints, token minting, request counts. */
export interface AuthorizationServer {
  readonly issuer: string;
  readonly introspectionUrl: string;
  readonly jwksUri: string;
  /** Requests seen per path (counted on the server side). */
  readonly counts: Map<string, number>;
  /** The private key the private_key_jwt client signs with. */
  readonly clientPrivateJwk: JWK;
  /** The provider's own signing key (to forge look-alike tokens in tests). */
  readonly signingJwk: JWK;
  /** Mints an access token for `app` by client credentials. */
  mint(
    app: (typeof APPS)[number],
    options?: { resource?: string; scope?: string },
  ): Promise<string>;
  /**
   * Mints a DPoP-bound access token (RFC 9449): the token request carries a proof signed with a
   * fresh key, and the token's `cnf.jkt` names that key.
   */
  mintDpop(
    app: (typeof APPS)[number],
    options?: { resource?: string; scope?: string },
  ): Promise<string>;
  /** Revokes a token at the revocation endpoint (as the app that minted it). */
  revoke(app: (typeof APPS)[number], token: string): Promise<void>;
  /** Requests seen at `path` so far. */
  count(path: string): number;
  /** Stops the server and drops its connections. */
  close(): Promise<void>;
}

/** Starts the provider. With `tls`, it speaks HTTPS and asks for client certificates. */
export async function startAuthorizationServer(
  options: { tls?: TlsServerMaterial; accessTokenTtlSec?: number } = {},
): Promise<AuthorizationServer> {
  const ttl = options.accessTokenTtlSec ?? 600;
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const clientKey = await generateKeyPair('ES256', { extractable: true });
  const rsaJwk = { ...(await exportJWK(rsa.privateKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
  const ecJwk = { ...(await exportJWK(ec.privateKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
  const clientPrivateJwk = { ...(await exportJWK(clientKey.privateKey)), kid: 'client-1' };
  const clientPublicJwk = {
    ...(await exportJWK(clientKey.publicKey)),
    kid: 'client-1',
    alg: 'ES256',
    use: 'sig',
  };

  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handler(req, res);
  };
  const server: Server = options.tls
    ? createHttpsServer(
        {
          key: options.tls.keyPem,
          cert: options.tls.certPem,
          ca: options.tls.caPem,
          requestCert: true,
          // The provider decides (certificateAuthorized); a missing certificate is not a TLS error.
          rejectUnauthorized: false,
        },
        listener,
      )
    : createHttpServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  const resourceServers: Record<string, object> = {
    [API_RESOURCE]: {
      scope: 'read write',
      audience: API_RESOURCE,
      accessTokenFormat: 'opaque',
      accessTokenTTL: ttl,
    },
    [OTHER_RESOURCE]: {
      scope: 'read write',
      audience: OTHER_RESOURCE,
      accessTokenFormat: 'opaque',
      accessTokenTTL: ttl,
    },
    [JWT_RESOURCE]: {
      scope: 'read write',
      audience: JWT_RESOURCE,
      accessTokenFormat: 'jwt',
      accessTokenTTL: ttl,
      jwt: { sign: { alg: 'ES256' } },
    },
  };
  const rsClient = { grant_types: [], response_types: [], redirect_uris: [] };
  const provider = new Provider(issuer, {
    clients: [
      {
        ...rsClient,
        client_id: RS_BASIC.clientId,
        client_secret: RS_BASIC.clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        ...rsClient,
        client_id: RS_POST.clientId,
        client_secret: RS_POST.clientSecret,
        token_endpoint_auth_method: 'client_secret_post',
      },
      {
        ...rsClient,
        client_id: RS_JWT,
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [clientPublicJwk] },
      },
      ...(options.tls
        ? [
            {
              ...rsClient,
              client_id: RS_MTLS,
              token_endpoint_auth_method: 'tls_client_auth',
              tls_client_auth_subject_dn: `CN=${RS_MTLS}`,
            },
          ]
        : []),
      ...APPS.map((app) => ({
        client_id: app,
        client_secret: APP_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      })),
    ],
    jwks: { keys: [rsaJwk, ecJwk] },
    adapter: MemoryAdapter,
    clientAuthMethods: [
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
      ...(options.tls ? ['tls_client_auth'] : []),
    ],
    ttl: {
      ClientCredentials: (_ctx: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) =>
        token.resourceServer?.accessTokenTTL ?? ttl,
    },
    cookies: { keys: ['authbridge-test-cookie-key-0123456789'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Sender-constrained tokens for the resource server's `cnf` handling.
      dPoP: { enabled: true },
      introspection: {
        enabled: true,
        // Only the resource-server clients may introspect (RFC 7662 §4: authorize callers).
        allowedPolicy: (_ctx: unknown, client: { clientId: string }) =>
          client.clientId.startsWith('rs-'),
      },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) =>
          client.clientId === token.clientId,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => API_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          const info = resourceServers[resource];
          if (info === undefined) throw new errors.InvalidTarget();
          return info;
        },
      },
      ...(options.tls
        ? {
            mTLS: {
              enabled: true,
              tlsClientAuth: true,
              getCertificate: (ctx: { socket: TLSSocket }) => ctx.socket.getPeerX509Certificate(),
              certificateAuthorized: (ctx: { socket: TLSSocket }) => ctx.socket.authorized,
              certificateSubjectMatches: (
                ctx: { socket: TLSSocket },
                property: string,
                expected: string,
              ) =>
                property === 'tls_client_auth_subject_dn' &&
                ctx.socket.getPeerX509Certificate()?.subject.trim() === expected,
            },
          }
        : {}),
    },
  });
  const counts = new Map<string, number>();
  provider.use(async (ctx, next) => {
    counts.set(ctx.path, (counts.get(ctx.path) ?? 0) + 1);
    await next();
  });
  // oidc-provider reports every rejected request as an event; the tests check outcomes instead.
  provider.on('server_error', (_ctx: unknown, error: unknown) => {
    console.error('authorization server error', error);
  });
  handler = provider.callback();

  const basic = (app: string): string =>
    `Basic ${Buffer.from(`${app}:${APP_SECRET}`).toString('base64')}`;
  const post = async (
    path: string,
    app: string,
    form: Record<string, string>,
    extraHeaders: Record<string, string> = {},
  ): Promise<{ status: number; body: string }> => {
    const headers = {
      authorization: basic(app),
      'content-type': 'application/x-www-form-urlencoded',
      ...extraHeaders,
    };
    const body = new URLSearchParams(form).toString();
    const tls = options.tls;
    if (!tls) {
      const res = await fetch(`${issuer}${path}`, { method: 'POST', headers, body });
      return { status: res.status, body: await res.text() };
    }
    // Over TLS: trust the test CA for this one request, present no client certificate.
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${issuer}${path}`,
        { method: 'POST', headers, ca: tls.caPem },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };

  return {
    issuer,
    introspectionUrl: `${issuer}/token/introspection`,
    jwksUri: `${issuer}/jwks`,
    counts,
    clientPrivateJwk,
    signingJwk: ecJwk,
    async mint(app, { resource = API_RESOURCE, scope = 'read' } = {}) {
      const res = await post('/token', app, { grant_type: 'client_credentials', resource, scope });
      const body = JSON.parse(res.body) as { access_token?: string; error?: string };
      if (res.status !== 200 || typeof body.access_token !== 'string') {
        throw new Error(`mint failed: ${res.status} ${res.body}`);
      }
      return body.access_token;
    },
    async mintDpop(app, { resource = API_RESOURCE, scope = 'read' } = {}) {
      const key = await generateKeyPair('ES256');
      const proof = await new SignJWT({ htm: 'POST', htu: `${issuer}/token`, jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(key.publicKey) })
        .setIssuedAt()
        .sign(key.privateKey);
      const form = { grant_type: 'client_credentials', resource, scope };
      const res = await post('/token', app, form, { dpop: proof });
      const body = JSON.parse(res.body) as { access_token?: string; token_type?: string };
      if (
        res.status !== 200 ||
        typeof body.access_token !== 'string' ||
        body.token_type !== 'DPoP'
      ) {
        throw new Error(`DPoP mint failed: ${res.status} ${res.body}`);
      }
      return body.access_token;
    },
    async revoke(app, token) {
      const res = await post('/token/revocation', app, { token });
      if (res.status !== 200) throw new Error(`revoke failed: ${res.status}`);
    },
    count: (path) => counts.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
        server.closeAllConnections();
      }),
  };
}
