/**
 * Turns the configured chain into backend instances.
 *
 * @packageDocumentation
 */
import {
  type AnyAuthBackend,
  AuthBridgeError,
  type EventLogger,
  type KeyValueStore,
  LocalPasswordBackend,
  findByTypedUsername,
  type UserStore,
} from '@authbridge/core';
import { LdapBackend } from '@authbridge/ldap';
import { checkAssertionKey, type ClientAuthentication, RestTokenBackend } from '@authbridge/rest';
import { SamlBackend } from '@authbridge/saml';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { BackendConfig } from './config/schema.js';

/** What backends may need from the host. */
export interface BackendContext {
  readonly userStore: UserStore;
  /** Replay caches (SAML request and assertion IDs). */
  readonly kvStore: KeyValueStore;
  readonly logger: Logger;
  /** `server.publicUrl`: the base of SAML endpoint URLs. */
  readonly publicUrl: string | undefined;
  /** Build to validate only (`check-config`): no local accounts are created. */
  readonly dryRun?: boolean;
}

type Builder<T extends BackendConfig['type']> = (
  config: Extract<BackendConfig, { type: T }>,
  context: BackendContext,
) => Promise<AnyAuthBackend>;

// One builder per backend type; a new type without a builder does not compile.
const BUILDERS: { readonly [T in BackendConfig['type']]: Builder<T> } = {
  local: async (config, context) => {
    const local = new LocalPasswordBackend({
      id: config.id,
      store: context.userStore,
      groupPermissions: config.groupPermissions,
    });
    for (const user of context.dryRun === true ? [] : config.users) {
      // Existing accounts are left as they are: a password changed at runtime is not reset by a restart.
      // Looked up as the store keeps it (NFKC, or as given before stores normalized), or a name
      // that is not NFKC would be created again (a clash) and its old account orphaned.
      if (await findByTypedUsername(context.userStore, user.username)) continue;
      const { password, ...profile } = user;
      await local.createUser(profile, password);
    }
    return local;
  },
  ldap: async (config, context) => {
    const { tls, ...options } = config;
    const ca = tls?.caFile === undefined ? undefined : readConfigFile(tls.caFile);
    return new LdapBackend({
      ...options,
      tls: tls && { servername: tls.servername, minVersion: tls.minVersion, ca },
      store: context.userStore,
      // Reasons (locked, expired...) go to the logs only; the client sees a generic failure.
      logger: eventLogger(context.logger, config.id),
    });
  },
  saml: async (config, context) => {
    const { sp, idps, type, ...options } = config;
    return new SamlBackend({
      ...options,
      users: context.userStore,
      replayStore: context.kvStore,
      sp: {
        entityId: sp.entityId,
        baseUrl: context.publicUrl ?? '',
        signingKey: sp.signingKeyFile === undefined ? undefined : readConfigFile(sp.signingKeyFile),
        signingCerts: sp.signingCertFiles?.map((f) => readConfigFile(f)),
      },
      idps: idps.map(({ signingCertFiles, ...idp }) => ({
        ...idp,
        signingCerts: signingCertFiles.map((f) => readConfigFile(f)),
      })),
    });
  },
  rest: async (config, context) => {
    const { type, mode, ...options } = config;
    return new RestTokenBackend({
      ...options,
      mode:
        mode.kind === 'introspection'
          ? { ...mode, clientAuth: restClientAuth(mode.clientAuth) }
          : mode,
      store: context.userStore,
      logger: eventLogger(context.logger, config.id),
    });
  },
};

/**
 * The `(event, fields)` logger the protocol backends take, writing to pino. Every line names the
 * backend once: most events carry `backend` themselves, and a pino child binding would write the
 * key a second time (duplicate JSON keys, which log pipelines such as Elasticsearch refuse).
 */
function eventLogger(logger: Logger, backendId: string): EventLogger {
  return {
    debug: (event, fields) => {
      logger.debug({ backend: backendId, ...fields }, event);
    },
    info: (event, fields) => {
      logger.info({ backend: backendId, ...fields }, event);
    },
    warn: (event, fields) => {
      logger.warn({ backend: backendId, ...fields }, event);
    },
    error: (event, fields) => {
      logger.error({ backend: backendId, ...fields }, event);
    },
  };
}

/**
 * Builds every backend, in order, and creates the configured local accounts that are missing. When
 * one fails, those already built are closed (their pools and timers) before the error goes on.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID naming the backend (`backends[i] (id): …`) when its
 * options are refused.
 */
export async function buildBackends(
  configs: readonly BackendConfig[],
  context: BackendContext,
): Promise<AnyAuthBackend[]> {
  const backends: AnyAuthBackend[] = [];
  try {
    for (const [index, config] of configs.entries()) {
      // The map is total over the union, so each config meets its own builder; TypeScript cannot
      // correlate the two lookups, hence the widening.
      const build = BUILDERS[config.type] as (
        c: BackendConfig,
        ctx: BackendContext,
      ) => Promise<AnyAuthBackend>;
      backends.push(
        await build(config, context).catch((error: unknown) => {
          throw namedConfigError(error, index, config);
        }),
      );
    }
  } catch (error) {
    await Promise.allSettled(backends.map((b) => b.close()));
    throw error;
  }
  return backends;
}

// A backend's own option check names the option, not where it sits in the file.
function namedConfigError(error: unknown, index: number, config: BackendConfig): unknown {
  if (!(error instanceof AuthBridgeError) || error.code !== 'CONFIG_INVALID') return error;
  const where = `backends[${String(index)}] (${config.id})`;
  return new AuthBridgeError('CONFIG_INVALID', `${where}: ${error.message}`, { cause: error });
}

type RestConfig = Extract<BackendConfig, { type: 'rest' }>;
type ClientAuthConfig = Extract<RestConfig['mode'], { kind: 'introspection' }>['clientAuth'];

/** The REST backend's client authentication, a `privateKeyFile` read into the key it holds. */
function restClientAuth(auth: ClientAuthConfig): ClientAuthentication {
  if (auth.method !== 'private_key_jwt') return auth;
  const { privateKeyFile, ...rest } = auth;
  return { ...rest, privateKey: assertionKey(privateKeyFile, auth.algorithm) };
}

/**
 * The private key in `path`, checked (by the REST package's own rule) to sign `algorithm`, so
 * that check-config and serve refuse a key that cannot, naming the file.
 */
function assertionKey(path: string, algorithm: string): KeyObject {
  const where = 'mode.clientAuth.privateKeyFile';
  const pem = readConfigFile(path);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new AuthBridgeError(
      'CONFIG_INVALID',
      `${where}: ${path} holds no unencrypted PEM private key`,
      { cause },
    );
  }
  checkAssertionKey(key, algorithm, 'mode', `${where}: the key in ${path}`);
  return key;
}

/** Reads a PEM or other file named in the configuration. */
function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new AuthBridgeError('CONFIG_INVALID', `cannot read ${path}`, { cause });
  }
}
