/**
 * The host's audit trail: one log line per login, failed login and logout, for the people who
 * answer "who signed in, from where, and when" (OWASP Logging Cheat Sheet: authentication successes
 * and failures).
 *
 * @packageDocumentation
 */
import type { Authenticator } from '@authbridge/core';
import type { Logger } from 'pino';
import { isLoginAttempt } from './login-attempt.js';

// A username from a failed form is whatever was typed: kept short in the log.
const MAX_LOGGED_USERNAME = 128;

/**
 * Writes `login` and `logout` at info and `login failed` at warn, each with the request id and the
 * client address (`ctx.ip`: the forwarded one only when the app trusts its proxy). Never a
 * password, token or session id: only the username of a failed attempt, from the masked
 * credentials. A rejected bearer token is not a login attempt; it shows in the access log.
 */
export function logAuthEvents(authenticator: Authenticator, logger: Logger): void {
  authenticator.events.on('loggedIn', ({ request, user }) => {
    logger.info(
      { ...origin(request), userId: user.id, username: user.username, backend: user.backendId },
      'login',
    );
  });
  authenticator.events.on('loggedOut', ({ request, user }) => {
    logger.info({ ...origin(request), userId: user?.id, username: user?.username }, 'logout');
  });
  authenticator.events.on('loginFailed', ({ request, credentials, deniedBy, failedBy, code }) => {
    if (!isLoginAttempt(credentials)) return;
    const username = credentials['username'];
    const idp = credentials['idp'];
    logger.warn(
      {
        ...origin(request),
        username: typeof username === 'string' ? username.slice(0, MAX_LOGGED_USERNAME) : undefined,
        // A SAML login names its IdP (from our own route, not from the message).
        idp: typeof idp === 'string' ? idp : undefined,
        deniedBy,
        failedBy,
        code,
      },
      'login failed',
    );
  });
}

function origin(request: unknown): { reqId?: string; ip?: string } {
  const ctx = request as { state?: { reqId?: unknown }; ip?: unknown } | undefined;
  const reqId = ctx?.state?.reqId;
  const ip = ctx?.ip;
  return {
    ...(typeof reqId === 'string' ? { reqId } : {}),
    ...(typeof ip === 'string' ? { ip } : {}),
  };
}
