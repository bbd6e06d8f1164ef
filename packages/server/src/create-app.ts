/**
 * The reference host: a Koa app assembled from a validated configuration.
 *
 * @packageDocumentation
 */
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import {
  AuthBridgeError,
  Authenticator,
  safeLocalPath,
  type KeyValueStore,
  MemoryKeyValueStore,
  MemoryUserStore,
  type UserStore,
} from '@authbridge/core';
import { SqliteKeyValueStore, SqliteUserStore } from '@authbridge/core/sqlite';
import {
  type AuthState,
  authbridge,
  bearer,
  csrf,
  csrfToken,
  errorHandler,
  login,
  logout,
  requireAuth,
  samlLogoutMessage,
  samlRoutes,
  sendSamlMessage,
  sessions,
} from '@authbridge/koa';
import { SamlBackend } from '@authbridge/saml';
import Koa from 'koa';
import { pino, type Logger } from 'pino';
import { buildBackends } from './build-backends.js';
import type { HostConfig } from './config/schema.js';
import { createMetrics } from './http/metrics.js';
import { homePage, loginPage } from './http/pages.js';
import { type RequestLogState, requestLog } from './http/request-log.js';
import { securityHeaders } from './http/security-headers.js';

/** Koa state on every request of the host. */
export type HostState = AuthState & RequestLogState;

/** The host app: a Koa app (not listening) that owns stores and backends until `close()`. */
export interface HostApp extends Koa<HostState> {
  /** The chain, for tests and embedding. */
  readonly authenticator: Authenticator;
  /** The user store, for administration and tests. */
  readonly userStore: UserStore;
  /** Closes backends and stores. Idempotent. */
  close(): Promise<void>;
}

/** Injectables for {@link createApp}. */
export interface CreateAppOptions {
  /** Where JSON logs go. Default: pino to stdout at the configured level. */
  readonly logger?: Logger;
}

const GENERIC_LOGIN_ERROR = 'The username or password is not correct.';

/**
 * Builds the host from `config`. Nothing listens: call `app.callback()` with `http.createServer`,
 * or use the CLI.
 */
export async function createApp(
  config: HostConfig,
  options: CreateAppOptions = {},
): Promise<HostApp> {
  const logger =
    options.logger ??
    pino({
      level: config.logging.level,
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    });
  const memory = config.stores.kind === 'memory';
  const userStore: UserStore = memory
    ? new MemoryUserStore()
    : new SqliteUserStore({ path: config.stores.path });
  const kvStore: KeyValueStore = memory
    ? new MemoryKeyValueStore()
    : new SqliteKeyValueStore({ path: config.stores.path });
  const backends = await buildBackends(config.backends, {
    userStore,
    kvStore,
    logger,
    publicUrl: config.server.publicUrl,
  });
  const authenticator = new Authenticator({ backends });
  const metrics = createMetrics(authenticator);
  const passwordLogin = backends.some((b) => b.accepts({ username: 'u', password: 'p' }));

  const app = new Koa<HostState>() as HostApp;
  app.proxy = config.server.trustProxy;
  app.silent = true; // errors are logged by errorHandler, with request ids

  app.use(requestLog(logger));
  const samlBackends = backends.filter((b): b is SamlBackend => b instanceof SamlBackend);
  const samlIdps = samlBackends.flatMap((b) =>
    b.listIdps().map((i) => ({ id: i.id, displayName: i.displayName })),
  );
  const idpOrigins = config.backends.flatMap((b) =>
    b.type === 'saml'
      ? b.idps.flatMap((i) => [i.ssoUrl, i.sloUrl ?? i.ssoUrl].map((u) => new URL(u).origin))
      : [],
  );
  app.use(securityHeaders(idpOrigins));
  app.use(
    errorHandler({
      logger: {
        error: (fields, message) => {
          logger.error(fields, message);
        },
      },
    }),
  );
  app.use(async (ctx, next) => {
    const end = metrics.httpDuration.startTimer({ method: ctx.method });
    try {
      await next();
    } finally {
      end({
        route: (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched',
        status: String(ctx.status),
      });
    }
  });

  const probes = new Router<HostState>();
  probes.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  probes.get('/readyz', async (ctx) => {
    const checks: Record<string, string> = {};
    await Promise.all([
      ...backends.map(async (b) => {
        checks[`backend:${b.id}`] = await outcome(() => b.healthCheck?.() ?? Promise.resolve());
      }),
      (async () => {
        checks['store:kv'] = await outcome(() => kvStore.get('readyz:probe'));
      })(),
      (async () => {
        checks['store:users'] = await outcome(() => userStore.getById('readyz:probe'));
      })(),
    ]);
    const ready = Object.values(checks).every((c) => c === 'ok');
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not ready', checks };
  });
  probes.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  app.use(probes.routes());

  // Bearer API requests are stateless: they never touch the session store or CSRF.
  const bearerAuth = bearer({ authenticator, realm: 'authbridge' });
  // App-level rather than router-level: @koa/router runs `use` middleware only for paths one of
  // its routes matches, and the SAML endpoints are served by middleware, not routes.
  const parseBody = bodyParser({
    enableTypes: ['form', 'json'],
    formLimit: '16kb',
    jsonLimit: '16kb',
  });
  app.use(async (ctx, next) => {
    // Only requests that carry a body pay for the parser.
    if (ctx.method === 'GET' || ctx.method === 'HEAD') await next();
    else await parseBody(ctx, next);
  });
  app.use(async (ctx, next) => {
    if (ctx.path.startsWith('/api/') && ctx.get('authorization') !== '')
      await bearerAuth(ctx, next);
    else await sessionChain(ctx, next);
  });
  const sessionChain = composeAll([
    sessions({ store: kvStore, maxAgeMs: config.server.sessionMaxAgeMs }),
    authbridge({ authenticator, secret: config.server.secret }),
    // Before csrf(): the ACS and SLO take cross-site POSTs from IdPs, checked by signatures.
    ...samlBackends.map((backend) => samlRoutes({ backend, authenticator, sessionStore: kvStore })),
    csrf(),
  ]);

  const web = new Router<HostState>();
  web.get('/', async (ctx) => {
    const user = await ctx.state.user;
    ctx.type = 'html';
    ctx.body = homePage({
      username: user.isAuthenticated ? user.username : undefined,
      backend: user.backendId,
      csrfToken: csrfToken(ctx),
    });
  });
  web.get('/login', (ctx) => {
    ctx.type = 'html';
    ctx.body = loginPage({
      csrfToken: csrfToken(ctx),
      next: safeLocalPath(ctx.query['next']),
      passwordLogin,
      samlIdps,
    });
  });
  web.post('/login', async (ctx) => {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const username = typeof body['username'] === 'string' ? body['username'] : '';
    const password = typeof body['password'] === 'string' ? body['password'] : '';
    const next = safeLocalPath(body['next']);
    const end = metrics.loginDuration.startTimer();
    const user = await authenticator.authenticate(ctx, { username, password });
    end({ backend: user?.backendId ?? 'none' });
    if (!user) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginPage({
        csrfToken: csrfToken(ctx),
        error: GENERIC_LOGIN_ERROR,
        username,
        next,
        passwordLogin,
        samlIdps,
      });
      return;
    }
    await login(ctx, user);
    ctx.status = 303;
    ctx.redirect(next ?? '/');
  });
  web.post('/logout', async (ctx) => {
    // A SAML login also ends at its IdP (Single Logout); the local session ends now either way.
    const user = await ctx.state.user;
    const owner = samlBackends.find((b) => b.id === user.backendId);
    const idpLogout =
      owner === undefined ? undefined : await samlLogoutMessage(ctx, owner, '/login');
    await logout(ctx);
    // Redirect binding: 303 to the IdP; HTTP-POST: a page whose button posts the LogoutRequest.
    if (idpLogout?.binding === 'post') {
      sendSamlMessage(ctx, idpLogout, 'out');
      return;
    }
    ctx.status = 303;
    ctx.redirect(idpLogout?.url ?? '/login');
  });
  web.get('/api/me', requireAuth(), async (ctx) => {
    const user = await ctx.state.user;
    if (!user.isAuthenticated) throw new AuthBridgeError('UNAUTHENTICATED');
    ctx.body = {
      id: user.id,
      username: user.username,
      backend: user.backendId,
      via: ctx.state.authVia,
      groups: user.groups,
      isStaff: user.isStaff,
      isSuperuser: user.isSuperuser,
      permissions: [...(await authenticator.getAllPermissions(user))].sort(),
    };
  });
  app.use(web.routes());
  app.use(web.allowedMethods());

  let closing: Promise<void> | undefined;
  Object.defineProperties(app, {
    authenticator: { value: authenticator },
    userStore: { value: userStore },
    close: {
      value: () =>
        (closing ??= (async () => {
          await authenticator.close();
          await Promise.all([kvStore.close(), userStore.close()]);
        })()),
    },
  });
  return app;
}

async function outcome(check: () => Promise<unknown>): Promise<string> {
  try {
    await check();
    return 'ok';
  } catch (error) {
    return error instanceof AuthBridgeError ? error.code : 'error';
  }
}

function composeAll(middleware: readonly Koa.Middleware<HostState>[]): Koa.Middleware<HostState> {
  return async (ctx, next) => {
    const run = async (i: number): Promise<void> => {
      const m = middleware[i];
      if (m) await m(ctx, () => run(i + 1));
      else await next();
    };
    await run(0);
  };
}
