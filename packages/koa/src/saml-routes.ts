/**
 * Koa routes for SAML 2.0 service providers: login, ACS, metadata and Single Logout per IdP.
 *
 * The backend is described structurally (what `@authbridge/saml`'s `SamlBackend` offers), so this
 * package does not depend on the SAML package.
 *
 * @packageDocumentation
 */
import {
  AuthBridgeError,
  type Authenticator,
  encodeRelayStatePath,
  MAX_RELAY_STATE_BYTES,
  type KeyValueStore,
  type User,
  safeLocalPath,
} from '@authbridge/core';
import type { Context, Middleware } from 'koa';
import { hash, randomBytes } from 'node:crypto';
import type { AuthState } from './auth-state.js';
import { escapeHtml } from './escape-html.js';
import { destroySession } from './session.js';
import { login, logout } from './session-auth.js';

/** The SAML session facts a SAML login carries (as `@authbridge/saml` returns them). */
export interface SamlSessionFacts {
  readonly idp: string;
  readonly nameId: string | undefined;
  readonly sessionIndex: string | undefined;
  readonly expiresAt: number;
  /** The AuthnRequest answered; undefined for an IdP-initiated login. */
  readonly inResponseTo?: string | undefined;
}

/** A message for the IdP: a Redirect URL, or form fields the browser posts (HTTP-POST). */
export type OutboundSamlMessage =
  | { readonly binding: 'redirect'; readonly url: string }
  | {
      readonly binding: 'post';
      readonly url: string;
      readonly fields: Readonly<Record<string, string>>;
    };

/** The SAML backend operations the routes use. */
export interface SamlRoutesBackend {
  readonly id: string;
  createLoginRequest(
    idpId: string,
    options?: { readonly relayState?: string },
  ): Promise<OutboundSamlMessage & { readonly requestId: string }>;
  recordSession(session: never, localSessionId: string): Promise<void>;
  createLogoutRequest(
    session: never,
    options?: { readonly relayState?: string },
  ): Promise<OutboundSamlMessage>;
  handleLogoutRedirect(idpId: string, rawQuery: string): Promise<LogoutOutcome>;
  handleLogoutPost(idpId: string, body: Record<string, unknown>): Promise<LogoutOutcome>;
  spMetadata(options?: { readonly sign?: boolean; readonly idp?: string }): string;
  listIdps(): readonly { readonly id: string }[];
}

/** What an inbound logout message asked for. */
export type LogoutOutcome =
  | {
      readonly kind: 'logout-response';
      readonly relayState: string | undefined;
      /** Whether the IdP reported Success (absent: treated as success). */
      readonly success?: boolean;
      /** The StatusCode the IdP reported. */
      readonly status?: string | undefined;
    }
  | {
      readonly kind: 'logout-request';
      readonly sessionIds: readonly string[];
      /**
       * Our LogoutResponse, for the browser to carry to the IdP; undefined when the IdP has no
       * SingleLogoutService to answer at.
       */
      readonly response: OutboundSamlMessage | undefined;
    };

/** Where the routes report what is worth an operator's attention (a pino logger fits). */
export interface SamlRoutesLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** Options for {@link samlRoutes}. */
export interface SamlRoutesOptions {
  readonly backend: SamlRoutesBackend;
  readonly authenticator: Authenticator;
  /** The session store, to end sessions named by an IdP-initiated LogoutRequest. */
  readonly sessionStore: KeyValueStore;
  /** Where routes live. Default `/saml`: `/saml/<idp>/login|acs|metadata|slo`. */
  readonly basePath?: string;
  /** Sign the published SP metadata. Default false. */
  readonly signMetadata?: boolean;
  /** Gets a warning when an IdP reports that a Single Logout failed. Default none. */
  readonly logger?: SamlRoutesLogger;
}

// Kept in the session so an SP-initiated logout can name the IdP session it ends.
const SAML_SESSION_KEY = '_saml_session';

// The AuthnRequests a browser started, so their answers are taken in that browser only: a few at
// once (tabs), for as long as an IdP login may take — the longest request lifetime the SAML
// backend accepts (its own `requestTtlMs` still decides).
const REQUESTS_COOKIE = 'authbridge.saml-requests';
const MAX_STARTED_REQUESTS = 4;
const STARTED_REQUEST_MS = 60 * 60 * 1000;
const REQUEST_ID = /^[A-Za-z0-9_-]{1,100}$/;
// How long a verified answer waits for its browser to come back (one redirect), and its key.
const PENDING_LOGIN_MS = 60_000;
const RESUME_KEY = /^[A-Za-z0-9_-]{43}$/;

/** A verified SP-initiated login waiting for its browser's GET. */
interface PendingLogin {
  readonly userId: string;
  readonly backendId: string | undefined;
  readonly saml: SamlSessionFacts;
  readonly relayState: string | undefined;
}

function pendingKey(key: string): string {
  // Stored under a hash: a dump of the store hands out no usable resume link.
  return `saml-login:${hash('sha256', key, 'base64url')}`;
}

const ROUTE = /^\/([A-Za-z0-9_-]{1,64})\/(login|acs|metadata|slo)$/;
// What each route allows (the pattern above admits only these four actions).
const ALLOWED: Readonly<Record<string, string>> = {
  login: 'GET',
  acs: 'POST',
  metadata: 'GET, HEAD',
  slo: 'GET, POST',
};

/**
 * One middleware serving every IdP's SAML endpoints. Mount it after `sessions()`, a body parser
 * and `authbridge()`, and NOT behind `csrf()`: the ACS and SLO receive cross-site POSTs from the
 * IdP, protected instead by signatures, InResponseTo and one-time IDs.
 */
export function samlRoutes(options: SamlRoutesOptions): Middleware<AuthState> {
  const base = (options.basePath ?? '/saml').replace(/\/$/, '');
  // The IdP list is fixed when the backend is built: read it once, not per request.
  const known: ReadonlySet<string> = new Set(options.backend.listIdps().map((i) => i.id));

  return async (ctx, next) => {
    const match = ctx.path.startsWith(`${base}/`) ? ROUTE.exec(ctx.path.slice(base.length)) : null;
    const idp = match?.[1];
    const action = match?.[2];
    if (idp === undefined || action === undefined || !known.has(idp)) {
      await next();
      return;
    }
    try {
      const method = ctx.method;
      if (action === 'login' && method === 'GET') await startLogin(ctx, idp);
      else if (action === 'acs' && method === 'POST') await acs(ctx, idp);
      else if (action === 'acs' && method === 'GET' && typeof ctx.query['resume'] === 'string')
        await resume(ctx, idp, ctx.query['resume']);
      else if (action === 'metadata' && (method === 'GET' || method === 'HEAD')) metadata(ctx, idp);
      else if (action === 'slo' && (method === 'GET' || method === 'POST')) await slo(ctx, idp);
      else {
        // RFC 9110 §15.5.6: a 405 names what the resource allows. No HEAD on login: it would
        // issue (and remember) an AuthnRequest.
        ctx.status = 405;
        ctx.set('Allow', ALLOWED[action] ?? 'GET');
      }
    } catch (error) {
      throw refusal(error);
    }
  };

  async function startLogin(ctx: Context, idp: string): Promise<void> {
    // A longer `next` cannot travel through the IdP: the login goes on without it and lands on
    // the default page, rather than failing for a bookmark with a long query string.
    // Measured as the backend will send it (see encodeRelayStatePath).
    const next = safeLocalPath(ctx.query['next']);
    const relayState = safeLocalPath(
      next === undefined ? undefined : encodeRelayStatePath(next),
      MAX_RELAY_STATE_BYTES,
    );
    const request = await options.backend.createLoginRequest(
      idp,
      relayState === undefined ? {} : { relayState },
    );
    // This browser started this request: the answer is taken only in this browser (below).
    setStartedRequests(ctx, [request.requestId, ...startedRequests(ctx)]);
    sendSamlMessage(ctx, request, 'in');
  }

  async function acs(ctx: Context, idp: string): Promise<void> {
    const body = requestBody(ctx);
    const samlResponse = body['SAMLResponse'];
    if (typeof samlResponse !== 'string' || samlResponse === '')
      throw new AuthBridgeError('INVALID_REQUEST');
    const relayState = typeof body['RelayState'] === 'string' ? body['RelayState'] : undefined;
    const user = (await options.authenticator.authenticate(ctx, {
      idp,
      samlResponse,
      relayState,
    })) as (User & { readonly saml?: SamlSessionFacts }) | null;
    if (!user) throw new AuthBridgeError('PROTOCOL_INVALID');
    if (user.saml?.inResponseTo === undefined) {
      // IdP-initiated (only where allowed): nothing to bind it to.
      await finishLogin(ctx, user, user.saml, relayState);
      return;
    }
    // An answer to our request arrives in a cross-site POST, which carries no SameSite=Lax cookie:
    // the browser cannot be checked here. The verified login waits a minute under a one-time key
    // while the browser comes back with a GET, which carries its cookies (login CSRF: otherwise a
    // response someone captured for their own request would log this browser into their account).
    const key = randomBytes(32).toString('base64url');
    const pending: PendingLogin = {
      userId: user.id,
      backendId: (user as { backendId?: string }).backendId,
      saml: user.saml,
      relayState,
    };
    await options.sessionStore.set(pendingKey(key), JSON.stringify(pending), PENDING_LOGIN_MS);
    ctx.status = 303;
    ctx.redirect(`${base}/${idp}/acs?resume=${key}`);
  }

  async function resume(ctx: Context, idp: string, key: string): Promise<void> {
    const storeKey = RESUME_KEY.test(key) ? pendingKey(key) : undefined;
    const raw = storeKey === undefined ? undefined : await options.sessionStore.get(storeKey);
    // Once: of two uses of the key, only the one that removes it goes on.
    if (
      storeKey === undefined ||
      raw === undefined ||
      !(await options.sessionStore.deleteIfEquals(storeKey, raw))
    )
      throw new AuthBridgeError('PROTOCOL_INVALID', undefined, {
        detail: 'saml: unknown, used or expired login resume key',
      });
    const pending = JSON.parse(raw) as PendingLogin;
    const started = startedRequests(ctx);
    if (pending.saml.idp !== idp || !started.includes(pending.saml.inResponseTo ?? '')) {
      // A refused login, audited as one (a login CSRF attempt, or a browser that lost its cookie).
      await options.authenticator.events.emit('loginFailed', {
        request: ctx,
        credentials: { idp },
        failedBy: options.backend.id,
        code: 'PROTOCOL_INVALID',
      });
      throw new AuthBridgeError('PROTOCOL_INVALID', undefined, {
        detail: 'saml: a response to a login this browser did not start',
      });
    }
    const user = await options.authenticator.getUser(
      pending.userId,
      pending.backendId ?? options.backend.id,
    );
    if (!user.isAuthenticated)
      throw new AuthBridgeError('PROTOCOL_INVALID', undefined, {
        detail: 'saml: the user is gone or inactive',
      });
    setStartedRequests(
      ctx,
      started.filter((id) => id !== pending.saml.inResponseTo),
    );
    await finishLogin(ctx, user, pending.saml, pending.relayState);
  }

  async function finishLogin(
    ctx: Context,
    user: User,
    saml: SamlSessionFacts | undefined,
    relayState: string | undefined,
  ): Promise<void> {
    await login(ctx, user, { expiresAt: saml?.expiresAt });
    const session = (ctx.state as AuthState).session;
    if (saml && session) {
      session.set(SAML_SESSION_KEY, saml);
      await options.backend.recordSession(saml as never, session.id);
    }
    ctx.status = 303;
    ctx.redirect(safeLocalPath(relayState) ?? '/');
  }

  /** Writes the started-requests cookie (newest first, a few at most); none left clears it. */
  function setStartedRequests(ctx: Context, ids: readonly string[]): void {
    const kept = ids.slice(0, MAX_STARTED_REQUESTS);
    ctx.cookies.set(REQUESTS_COOKIE, kept.length > 0 ? kept.join('.') : null, {
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      path: base,
      ...(kept.length > 0 ? { maxAge: STARTED_REQUEST_MS } : {}),
      overwrite: true,
    });
  }

  /** The AuthnRequest IDs this browser started (from our cookie), newest first. */
  function startedRequests(ctx: Context): string[] {
    const value = ctx.cookies.get(REQUESTS_COOKIE);
    return value === undefined ? [] : value.split('.').filter((id) => REQUEST_ID.test(id));
  }

  // Each IdP is given its own document: only its endpoints (see SamlBackend.spMetadata).
  function metadata(ctx: Context, idp: string): void {
    ctx.type = 'application/samlmetadata+xml';
    ctx.body = options.backend.spMetadata({ sign: options.signMetadata ?? false, idp });
  }

  async function slo(ctx: Context, idp: string): Promise<void> {
    const outcome =
      ctx.method === 'GET'
        ? await options.backend.handleLogoutRedirect(idp, ctx.querystring)
        : await options.backend.handleLogoutPost(idp, requestBody(ctx));
    if (outcome.kind === 'logout-response') {
      // The IdP could not end every session (Responder, PartialLogout…). Ours ended with the
      // request; the person still finishes logging out, and the operator hears of it.
      if (outcome.success === false) {
        options.logger?.warn(
          { idp, status: outcome.status, backend: options.backend.id },
          'saml: the IdP reported a failed Single Logout',
        );
      }
      // Our own LogoutRequest came back answered: this browser's session ends here.
      if ((await (ctx.state as AuthState).user).isAuthenticated) await logout(ctx);
      ctx.redirect(safeLocalPath(outcome.relayState) ?? '/login');
      return;
    }
    for (const id of outcome.sessionIds) await destroySession(options.sessionStore, id);
    // Nowhere to answer: the sessions are ended all the same, and the browser lands here.
    if (outcome.response === undefined) ctx.redirect('/login');
    else sendSamlMessage(ctx, outcome.response, 'out');
  }
}

/**
 * Sends the browser to the IdP with `message`: a redirect (set `ctx.status` to 303 first after
 * a POST), or for HTTP-POST a page whose one button posts the form (no JavaScript). `purpose`
 * only words that page: signing in or out.
 */
export function sendSamlMessage(
  ctx: Context,
  message: OutboundSamlMessage,
  purpose: 'in' | 'out',
): void {
  if (message.binding === 'redirect') ctx.redirect(message.url);
  else postForm(ctx, message.url, message.fields, purpose);
}

/**
 * Starts SP-initiated Single Logout for the current user when it logged in through SAML: returns
 * the IdP URL to send the browser to, or undefined (then log out locally as usual). For the
 * Redirect binding only: an IdP whose SingleLogoutService takes HTTP-POST makes it throw; use
 * {@link samlLogoutMessage} and {@link sendSamlMessage}, which handle both.
 */
export async function samlLogoutUrl(
  ctx: Context,
  backend: SamlRoutesBackend,
  relayState?: string,
): Promise<string | undefined> {
  const message = await samlLogoutMessage(ctx, backend, relayState);
  if (message?.binding === 'post') {
    throw new AuthBridgeError('CONFIG_INVALID', 'This IdP takes logout messages by HTTP-POST');
  }
  return message?.url;
}

/**
 * Starts SP-initiated Single Logout for the current user when it logged in through SAML: returns
 * the LogoutRequest in the IdP's binding (send it with {@link sendSamlMessage} after ending the
 * local session), or undefined (then log out locally as usual).
 */
export async function samlLogoutMessage(
  ctx: Context,
  backend: SamlRoutesBackend,
  relayState?: string,
): Promise<OutboundSamlMessage | undefined> {
  const facts = (ctx.state as AuthState).session?.get(SAML_SESSION_KEY) as
    SamlSessionFacts | undefined;
  if (facts?.nameId === undefined) return undefined;
  try {
    const request = await backend.createLogoutRequest(
      facts as never,
      relayState === undefined ? {} : { relayState },
    );
    return request;
  } catch (error) {
    // An IdP without an SLO endpoint: local logout only.
    if (error instanceof AuthBridgeError && error.code === 'INVALID_REQUEST') return undefined;
    throw error;
  }
}

/**
 * A SAML message that fails validation (or is replayed) is refused with 403, code unchanged: a 401
 * must name an HTTP authentication scheme the client could answer (RFC 9110 §15.5.2), and none
 * applies to a browser carrying an IdP's message. djangosaml2's ACS failure page is a 403 too.
 */
function refusal(error: unknown): unknown {
  if (!(error instanceof AuthBridgeError) || error.status !== 401) return error;
  return new AuthBridgeError(error.code, error.message, {
    status: 403,
    detail: error.detail,
    cause: error,
  });
}

function requestBody(ctx: Context): Record<string, unknown> {
  const body = (ctx.request as { body?: unknown }).body;
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
}

// HTTP-POST binding without JavaScript: a form the person submits with one button. The CSP for
// this response allows posting to the IdP, and to us: Chrome applies form-action to the
// redirects the submission leads to, and the IdP may answer a logout by redirecting back here.
function postForm(
  ctx: Context,
  url: string,
  fields: Readonly<Record<string, string>>,
  purpose: 'in' | 'out',
): void {
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('\n');
  ctx.set(
    'Content-Security-Policy',
    `default-src 'none'; form-action 'self' ${new URL(url).origin}; frame-ancestors 'none'; base-uri 'none'`,
  );
  ctx.type = 'html';
  const action = purpose === 'in' ? 'sign in' : 'finish signing out';
  ctx.body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Continue to ${action}</title></head>
<body><main><form method="post" action="${escapeHtml(url)}">
${inputs}
<p>Continue to your identity provider to ${action}.</p>
<button type="submit">Continue</button>
</form></main></body></html>`;
}
