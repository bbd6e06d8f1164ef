/**
 * Server-side sessions in a core {@link KeyValueStore}: the cookie carries only an opaque id.
 *
 * @packageDocumentation
 */
import { AuthBridgeError, type KeyValueStore } from '@authbridge/core';
import type { Context, Middleware } from 'koa';
import { hash, randomBytes } from 'node:crypto';

/** Options for {@link sessions}. */
export interface SessionOptions {
  /** Where session data lives (SQLite, Redis, memory for tests). */
  readonly store: KeyValueStore;
  /** Cookie name. Default `authbridge.sid`. */
  readonly cookieName?: string;
  /**
   * The cookie that carries an anonymous visitor's CSRF secret, so that showing a login form
   * stores nothing (as Django's `csrftoken` cookie). Default `authbridge.csrf`.
   */
  readonly csrfCookieName?: string;
  /** Lifetime in ms from the last change to the session (login renews it). Default 8 hours. */
  readonly maxAgeMs?: number;
  /** SameSite attribute. Default `lax` (as Django). */
  readonly sameSite?: 'lax' | 'strict';
}

/** Session data: JSON values by key. */
export type SessionData = Record<string, unknown>;

/** The session key of the CSRF secret (see `csrf()`); rotated at login. */
export const CSRF_SESSION_KEY = '_csrf_secret';

/** A new random session id: 256 bits, base64url. */
function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

/** @internal What {@link sessions} must do with a session at the end of a request. */
interface CommitPlan {
  readonly stored: boolean;
  readonly data: SessionData;
  readonly retired: string | undefined;
  /** The data came over from `retired` by cycleKey(): void if that id was ended meanwhile. */
  readonly carried: boolean;
  /** flush() ended `retired` (a logout): that stands even if the request then fails. */
  readonly flushed: boolean;
}

/** The per-request session handle, at `ctx.state.session`. */
export class Session {
  // Made on first use: most anonymous requests (probes of a page, a bad cookie) never need one,
  // and 256 random bits per request showed up on the hot path.
  #id: string | undefined;
  #data: SessionData;
  #dirty = false;
  // Whether #id names a session already in the store (loaded from the cookie, never cycled).
  #stored: boolean;
  #destroyOld: string | undefined;
  #carried = false;
  #flushed = false;
  #accessed = false;

  /** @internal Sessions are made by {@link sessions}. */
  constructor(id: string | undefined, data: SessionData) {
    this.#stored = id !== undefined;
    this.#id = id;
    this.#data = data;
  }

  /**
   * The session id. Known from the start of the request, also for a session that is only written
   * at the end of it (so a login can record "this local session" with an identity provider).
   */
  get id(): string {
    this.#accessed = true;
    return (this.#id ??= newSessionId());
  }

  get(key: string): unknown {
    this.#accessed = true;
    return this.#data[key];
  }

  set(key: string, value: unknown): void {
    this.#accessed = true;
    this.#data[key] = value;
    this.#dirty = true;
  }

  delete(key: string): void {
    this.#accessed = true;
    if (key in this.#data) {
      // Reflect.deleteProperty keeps the dynamic-delete lint rule honest: the data is a plain record.
      Reflect.deleteProperty(this.#data, key);
      this.#dirty = true;
    }
  }

  /** Django's `cycle_key()`: a new id, same data; the old id stops working. */
  cycleKey(): void {
    this.#carried ||= this.#stored;
    this.#retire();
    this.#dirty = true;
  }

  /** Django's `flush()`: a new id and no data; the old id stops working. */
  flush(): void {
    this.#retire();
    this.#data = {};
    this.#carried = false;
    this.#flushed = true;
    this.#dirty = true;
  }

  /**
   * @internal `login()` says so: the data is a login made in this request, to be kept whatever
   * became of the old id meanwhile.
   */
  markLoggedIn(): void {
    this.#carried = false;
  }

  /**
   * @internal Whether this request read or wrote the session: its response then depends on the
   * cookie (Django's `accessed`, which sets `Vary: Cookie`).
   */
  get accessed(): boolean {
    return this.#accessed || this.#dirty;
  }

  /** @internal Whether this request changed the session (data, id or both). */
  get changed(): boolean {
    return this.#dirty;
  }

  /** @internal What the middleware needs to persist the session. */
  commitPlan(): CommitPlan {
    return {
      stored: this.#stored,
      data: this.#data,
      retired: this.#destroyOld,
      carried: this.#carried,
      flushed: this.#flushed,
    };
  }

  #retire(): void {
    if (this.#stored) this.#destroyOld ??= this.#id;
    this.#id = undefined;
    this.#stored = false;
  }
}

/**
 * Ends the session with this id wherever it is in use (IdP-initiated logout, an administrator
 * ending a user's sessions). Its next request is anonymous.
 */
export async function destroySession(store: KeyValueStore, id: string): Promise<void> {
  await store.delete(storeKey(id));
}

/** Koa state added by {@link sessions}. */
export interface SessionState {
  session?: Session | undefined;
}

// Store keys are hashes of the id: a dump of the store does not hand out usable cookies.
function storeKey(id: string): string {
  return `session:${hash('sha256', id, 'base64url')}`;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;
// RFC 6265 §4.1.1: a cookie name is an RFC 7230 token.
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Enough for every session active at once on one process; beyond it the memo starts over.
const MAX_MEMOIZED_KEYS = 10_000;

/**
 * Loads the session named by the cookie (if any) before the request and saves it after. The cookie
 * is HttpOnly, SameSite=Lax, and Secure whenever the request is HTTPS — which Koa decides from
 * `X-Forwarded-Proto` only when `app.proxy` is true. A store failure is an error (fail closed).
 */
export function sessions(options: SessionOptions): Middleware<SessionState> {
  const cookieName = options.cookieName ?? 'authbridge.sid';
  const csrfCookieName = options.csrfCookieName ?? 'authbridge.csrf';
  const maxAgeMs = options.maxAgeMs ?? 8 * 60 * 60 * 1000;
  const sameSite = options.sameSite ?? 'lax';
  if (!Number.isFinite(maxAgeMs) || maxAgeMs <= 0)
    throw new AuthBridgeError('CONFIG_INVALID', 'maxAgeMs must be positive');
  if (!COOKIE_NAME.test(cookieName) || !COOKIE_NAME.test(csrfCookieName))
    throw new AuthBridgeError('CONFIG_INVALID', 'cookie names must be RFC 6265 cookie names');
  if (csrfCookieName === cookieName)
    throw new AuthBridgeError('CONFIG_INVALID', 'csrfCookieName must differ from cookieName');
  const store = options.store;
  const cookiePattern = firstCookie(cookieName);
  const csrfCookiePattern = firstCookie(csrfCookieName);
  // The hash of an id is needed on every request of its session: remembered for ids the store
  // knows (an id only ever maps to one key; the memo lives in this process's memory, never in the
  // store), so made-up ids do not churn it.
  const keys = new Map<string, string>();

  return async (ctx, next) => {
    const header = ctx.req.headers.cookie;
    let cookie = header === undefined ? undefined : cookiePattern.exec(header)?.[1];
    if (cookie?.startsWith('"') === true) cookie = cookie.slice(1, -1);
    let session: Session | undefined;
    if (cookie !== undefined && ID_PATTERN.test(cookie)) {
      const remembered = keys.get(cookie);
      const key = remembered ?? storeKey(cookie);
      const raw = await store.get(key);
      if (raw !== undefined) {
        if (remembered === undefined) {
          if (keys.size >= MAX_MEMOIZED_KEYS) keys.clear();
          keys.set(cookie, key);
        }
        session = new Session(cookie, JSON.parse(raw) as SessionData);
      }
    }
    // Nobody's session: an anonymous visitor's CSRF secret, if it has one, is in its own cookie.
    let csrfCookie: string | undefined;
    if (session === undefined) {
      csrfCookie = header === undefined ? undefined : csrfCookiePattern.exec(header)?.[1];
      if (csrfCookie !== undefined && !ID_PATTERN.test(csrfCookie)) csrfCookie = undefined;
      session = new Session(
        undefined,
        csrfCookie === undefined ? {} : { [CSRF_SESSION_KEY]: csrfCookie },
      );
    }
    ctx.state.session = session;
    let status: number;
    try {
      await next();
      status = ctx.status;
    } catch (error) {
      // An error without an HTTP status is a 500.
      const thrown = (error as { status?: unknown }).status;
      // An error answer made from the session (a 403 for this user, a 404 only they get) varies
      // by cookie too; errorHandler keeps headers already set (Koa's own onerror drops them).
      varyByCookie(ctx, session);
      if (session.changed)
        await commit(ctx, session, typeof thrown === 'number' ? thrown : 500, cookie !== undefined);
      throw error;
    }
    varyByCookie(ctx, session);
    // Checked here rather than in commit(): most requests change nothing, and an async call that
    // returns at once still costs a promise and a turn of the microtask queue.
    if (session.changed) await commit(ctx, session, status, cookie !== undefined);
  };

  /**
   * An answer made from the session differs per cookie: a shared cache must not hand one
   * visitor's page (or CSRF token) to another, whatever Cache-Control the route chose. Not once
   * the route has answered on the Node response itself (streamed, proxied).
   */
  function varyByCookie(ctx: Context, session: Session): void {
    if (!session.accessed || ctx.res.headersSent) return;
    // Straight on the Node response when nothing else varies (the usual case): Koa's vary()
    // parses and rebuilds the header on every session request.
    if (ctx.res.hasHeader('vary')) ctx.vary('Cookie');
    else ctx.res.setHeader('Vary', 'Cookie');
  }

  /**
   * Ends a request that changed its session. A request that failed on the server side saves
   * nothing (Django skips 500s too): a login followed by a crash must not leave the user logged
   * in, nor retire the old session id. A logout made before the failure stands, as Django's
   * flush() deletes at once: the old id is ended. `sentSessionId`: the request carried a session
   * cookie.
   */
  async function commit(
    ctx: Context,
    session: Session,
    status: number,
    sentSessionId: boolean,
  ): Promise<void> {
    if (status < 500) {
      await save(ctx, session, sentSessionId);
      return;
    }
    const plan = session.commitPlan();
    if (!plan.flushed || plan.retired === undefined) return;
    await destroySession(store, plan.retired);
    if (sentSessionId) clearCookie(ctx, cookieName);
  }

  /** Persists a changed session; `sentSessionId`: the request carried a session cookie. */
  async function save(ctx: Context, session: Session, sentSessionId: boolean): Promise<void> {
    const plan = session.commitPlan();
    if (plan.retired !== undefined) {
      const existed = await store.delete(storeKey(plan.retired));
      // cycleKey() moves the data to a new id: if the old one was ended while this request ran (a
      // logout, an IdP logout, destroySession), moving it would bring that session back.
      if (!existed && plan.carried) {
        clearCookie(ctx, cookieName);
        return;
      }
    }
    const dataKeys = Object.keys(plan.data);
    // A session that would hold nothing but a CSRF secret (a login form shown to a visitor) is not
    // stored: the secret goes in its own cookie, so page views cannot fill the store. It is no
    // weaker than a session row: either way, whoever can plant a cookie in the browser can plant
    // one whose token they know.
    if (!plan.stored && dataKeys.length === 1 && dataKeys[0] === CSRF_SESSION_KEY) {
      const secret = plan.data[CSRF_SESSION_KEY];
      if (typeof secret === 'string' && ID_PATTERN.test(secret)) {
        // A session id the browser still sends names nothing now (ended here, or unknown).
        if (sentSessionId) clearCookie(ctx, cookieName);
        setCookie(ctx, csrfCookieName, secret);
        return;
      }
    }
    await storeSession(ctx, session.id, plan, dataKeys.length === 0);
    // The secret now lives in the session (a login rotates it there): the visitor's one is done.
    // Read again here, not kept from the start: a loaded session never looked for it, and a login
    // (SAML's too) or a logout is when a leftover one goes.
    const header = ctx.req.headers.cookie;
    if (header !== undefined && csrfCookiePattern.test(header)) clearCookie(ctx, csrfCookieName);
  }

  async function storeSession(
    ctx: Context,
    id: string,
    plan: CommitPlan,
    empty: boolean,
  ): Promise<void> {
    // Only changed sessions come here, so a session's lifetime counts from its last change (login).
    if (empty) {
      if (plan.stored) await store.delete(storeKey(id));
      clearCookie(ctx, cookieName);
      return;
    }
    const value = JSON.stringify(plan.data);
    if (plan.stored) {
      // Only while it still exists, in one atomic step: a session ended elsewhere (logout,
      // password change, IdP logout) while this request ran is not brought back.
      if (!(await store.setIfPresent(storeKey(id), value, maxAgeMs))) return;
    } else {
      await store.set(storeKey(id), value, maxAgeMs);
    }
    setCookie(ctx, cookieName, id);
  }

  // Both cookies (session id, visitor CSRF secret) carry the same attributes and lifetime.
  function setCookie(ctx: Context, name: string, value: string): void {
    ctx.cookies.set(name, value, {
      httpOnly: true,
      sameSite,
      secure: ctx.secure,
      maxAge: maxAgeMs,
      overwrite: true,
    });
  }

  function clearCookie(ctx: Context, name: string): void {
    ctx.cookies.set(name, null, { httpOnly: true, sameSite, secure: ctx.secure, overwrite: true });
  }
}

/**
 * The first `name=value` pair of a Cookie header, as the `cookies` package (ctx.cookies) reads
 * it; read directly because ctx.cookies builds a Cookies object on every request.
 */
function firstCookie(name: string): RegExp {
  return new RegExp(`(?:^|;) *${name.replace(/[.*+?^$|]/g, '\\$&')}=([^;]*)`);
}
