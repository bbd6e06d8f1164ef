/**
 * The reference host: a Koa app assembled from a validated configuration.
 *
 * @packageDocumentation
 */
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
import { logAuthEvents } from './http/audit-log.js';
import { createMetrics } from './http/metrics.js';
import { homePage, loginPage } from './http/pages.js';
import { edge, type EdgeState } from './http/edge.js';
import { readBody } from './http/read-body.js';

/** Koa state on every request of the host. */
export type HostState = AuthState & EdgeState;

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
  // The host speaks plain HTTP, so an https publicUrl means a TLS proxy in front; without
  // trustProxy, requests never look secure: cookies go without Secure, and no HSTS is sent.
  if (
    config.server.publicUrl?.startsWith('https:') === true &&
    config.server.trustProxy === false
  ) {
    logger.warn(
      { publicUrl: config.server.publicUrl },
      'publicUrl is https but trustProxy is off: cookies will not be marked Secure and no HSTS is sent; set server.trustProxy to the number of proxies in front',
    );
  }
  const memory = config.stores.kind === 'memory';
  // Nothing stays open when the app cannot be assembled: what was opened is closed again (a
  // backend that fails to build closes the ones built before it itself).
  const opened: { close(): Promise<void> }[] = [];
  try {
    const userStore: UserStore = memory
      ? new MemoryUserStore()
      : new SqliteUserStore({ path: config.stores.path, readCache: config.stores.readCache });
    opened.push(userStore);
    const kvStore: KeyValueStore = memory
      ? new MemoryKeyValueStore()
      : new SqliteKeyValueStore({ path: config.stores.path, readCache: config.stores.readCache });
    opened.push(kvStore);
    const backends = await buildBackends(config.backends, {
      userStore,
      kvStore,
      logger,
      publicUrl: config.server.publicUrl,
    });
    opened.push(...backends);
    const authenticator = new Authenticator({ backends });
    const metrics = createMetrics(authenticator);
    logAuthEvents(authenticator, logger);
    const passwordLogin = backends.some((b) => b.accepts({ username: 'u', password: 'p' }));

    const app = new Koa<HostState>() as HostApp;
    // Koa believes the last `maxIpsCount` X-Forwarded-For entries only (0 would mean all of them,
    // and the leftmost, the client's own, would become `ctx.ip` in the audit log).
    const proxies = config.server.trustProxy === true ? 1 : config.server.trustProxy || 0;
    app.proxy = proxies > 0;
    app.maxIpsCount = proxies;
    app.silent = true; // errors are logged by edge(), with request ids

    const samlBackends = backends.filter((b): b is SamlBackend => b instanceof SamlBackend);
    // Without an SP signing key an IdP's sloUrl is never used (logout messages must be signed):
    // say so once rather than let logout quietly stay local.
    for (const backend of samlBackends) {
      const idps = backend.idpsWithoutSlo();
      if (idps.length > 0) {
        logger.warn(
          { backend: backend.id, idps },
          'SAML Single Logout is off for IdPs with an sloUrl: the SP has no signing key (logout messages must be signed); logout stays local',
        );
      }
    }
    const samlIdps = samlBackends.flatMap((b) =>
      b.listIdps().map((i) => ({ id: i.id, displayName: i.displayName })),
    );
    const idpOrigins = config.backends.flatMap((b) =>
      b.type === 'saml'
        ? b.idps.flatMap((i) => [i.ssoUrl, i.sloUrl ?? i.ssoUrl].map((u) => new URL(u).origin))
        : [],
    );
    app.use(edge({ logger, metrics, formTargets: idpOrigins }));

    // Each route names exactly the layers it needs, so a request pays for nothing else: probes load
    // no session, bearer API calls never load a session or check CSRF, only routes that take a body
    // parse one.
    const router = new Router<HostState>();
    const parseBody = readBody({
      enableTypes: ['form', 'json'],
      formLimit: '16kb',
      jsonLimit: '16kb',
    });
    // The ACS and SLO receive whole SAML messages: up to the backend's 256 KiB decoded, i.e. about
    // 342 KiB of base64, more once form-encoded. The backend enforces its own decoded limit.
    const parseSamlBody = readBody({ enableTypes: ['form'], formLimit: '1mb' });
    const loadSession = sessions({ store: kvStore, maxAgeMs: config.server.sessionMaxAgeMs });
    const sessionUser = authbridge({ authenticator, secret: config.server.secret });
    const withSession = [loadSession, sessionUser] as const;
    // The public origin is this site whatever Host the proxy in front passes on (one that rewrites
    // it, or terminates TLS without trustProxy): forms posted from it are ours.
    const publicUrl = config.server.publicUrl;
    const checkCsrf = csrf({
      trustedOrigins: publicUrl === undefined ? [] : [new URL(publicUrl).origin],
    });
    const bearerUser = bearer({ authenticator, realm: 'authbridge' });
    // An API request that carries a token is stateless; one without is answered from the session
    // (the browser calling /api/me after logging in). Not an async function: it only picks a path,
    // and an async wrapper is one more promise per request.
    const apiUser: Koa.Middleware<HostState> = (ctx, next): Promise<unknown> => {
      const authorization = ctx.req.headers.authorization;
      if (authorization !== undefined && authorization !== '')
        return bearerUser(ctx, next) as Promise<unknown>;
      return loadSession(ctx, () => sessionUser(ctx, next) as Promise<unknown>) as Promise<unknown>;
    };

    router.get('/healthz', (ctx) => {
      ctx.body = { status: 'ok' };
    });
    router.get('/readyz', async (ctx) => {
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
    router.get('/metrics', async (ctx) => {
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.metrics();
    });

    if (samlBackends.length > 0) {
      // The ACS and SLO take cross-site POSTs from IdPs, checked by signatures, not CSRF tokens.
      // Each backend's routes pass on IdPs that are not its own; nobody's IdP is a 404.
      router.all(
        '/saml/:idp/:action',
        parseSamlBody,
        ...withSession,
        ...samlBackends.map((backend) =>
          samlRoutes({ backend, authenticator, sessionStore: kvStore, logger }),
        ),
      );
    }

    router.get('/', ...withSession, async (ctx) => {
      const user = await ctx.state.user;
      ctx.type = 'html';
      ctx.body = homePage({
        username: user.isAuthenticated ? user.username : undefined,
        backend: user.backendId,
        csrfToken: csrfToken(ctx),
      });
    });
    router.get('/login', ...withSession, (ctx) => {
      ctx.type = 'html';
      ctx.body = loginPage({
        csrfToken: csrfToken(ctx),
        next: safeLocalPath(ctx.query['next']),
        passwordLogin,
        samlIdps,
      });
    });
    router.post('/login', parseBody, ...withSession, checkCsrf, async (ctx) => {
      const body = (ctx.request.body ?? {}) as Record<string, unknown>;
      const username = typeof body['username'] === 'string' ? body['username'] : '';
      const password = typeof body['password'] === 'string' ? body['password'] : '';
      const next = safeLocalPath(body['next']);
      const end = metrics.loginDuration.startTimer();
      let user: Awaited<ReturnType<typeof authenticator.authenticate>>;
      try {
        user = await authenticator.authenticate(ctx, { username, password });
      } catch (error) {
        // An outage or a timeout is when login latency matters most: observed too.
        end({ backend: 'error' });
        throw error;
      }
      end({ backend: user?.backendId ?? 'none' });
      if (!user) {
        // The form again, 200 as Django's login view: a 401 must name a challenge (RFC 9110
        // §15.5.2) and a form is not an HTTP authentication scheme. The audit log and the login
        // metrics record the failure.
        ctx.status = 200;
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
    router.post('/logout', parseBody, ...withSession, checkCsrf, async (ctx) => {
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
    // A 401 here names the token scheme even when the request came with neither token nor session.
    const apiAuth = requireAuth({ challenge: 'Bearer realm="authbridge"' });
    router.get('/api/me', apiUser, apiAuth, async (ctx) => {
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
    app.use(router.routes());
    app.use(router.allowedMethods());

    let closing: Promise<void> | undefined;
    Object.defineProperties(app, {
      authenticator: { value: authenticator },
      userStore: { value: userStore },
      close: {
        value: () =>
          (closing ??= (async () => {
            // The stores close even if a backend's close fails; that failure is still reported.
            try {
              await authenticator.close();
            } finally {
              await Promise.allSettled([kvStore.close(), userStore.close()]);
            }
          })()),
      },
    });
    return app;
  } catch (error) {
    await Promise.allSettled(opened.map((o) => o.close()));
    throw error;
  }
}

async function outcome(check: () => Promise<unknown>): Promise<string> {
  try {
    await check();
    return 'ok';
  } catch (error) {
    return error instanceof AuthBridgeError ? error.code : 'error';
  }
}
