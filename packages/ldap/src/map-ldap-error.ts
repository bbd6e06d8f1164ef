/**
 * The one place where LDAP outcomes become authbridge outcomes.
 *
 * A failed user bind is a {@link LdapFailureReason}: the caller of `authenticate` sees `null` for
 * every one of them (a locked account looks like a wrong password from outside), and the reason
 * goes to the logger only. Anything that says the directory itself is unusable becomes an
 * {@link AuthBridgeError} (BACKEND_UNAVAILABLE or BACKEND_TIMEOUT) and propagates: an outage must
 * never read as "wrong password".
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import { PasswordPolicyError, type PasswordPolicyValue, ResultCodeError } from 'ldapts';

/** Why a login did not succeed. Internal: logged, never shown to the client. */
export type LdapFailureReason =
  /** Username or password empty/missing/too long: refused before any I/O. */
  | 'empty-credentials'
  /** No entry matched the username. */
  | 'user-not-found'
  /** More than one entry matched the username. */
  | 'ambiguous-user'
  /** The server said invalidCredentials (49) with no more specific reason. */
  | 'invalid-credentials'
  /** ppolicy `accountLocked` or AD 775. */
  | 'account-locked'
  /** ppolicy `passwordExpired` or AD 532. */
  | 'password-expired'
  /** ppolicy `changeAfterReset` or AD 773: the password must be changed first. */
  | 'must-change-password'
  /** ppolicy grace login used (the password has expired; refused unless configured). */
  | 'grace-login'
  /** AD 533: the account is disabled. */
  | 'account-disabled'
  /** AD 701: the account has expired. */
  | 'account-expired'
  /** AD 530: not permitted to log on at this time. */
  | 'logon-hours'
  /** AD 531: not permitted to log on from this workstation. */
  | 'workstation-restricted'
  /** AD 525: user not found (reported by the bind itself). */
  | 'ad-user-not-found'
  /** The server refused the bind with constraintViolation (19) or unwillingToPerform (53). */
  | 'bind-refused'
  /** The user is not in the required group(s). */
  | 'require-group'
  /** The user is inactive (user flags by group) and inactive users may not log in. */
  | 'inactive'
  /** The identity is new and `noNewUsers` is set. */
  | 'no-new-users'
  /** The entry lacks the configured stable-id attribute. */
  | 'missing-id';

/** Active Directory's `data XXX` sub-codes of a 49 bind error, and what each means. */
export const AD_SUB_CODES: Readonly<Record<string, LdapFailureReason>> = Object.freeze({
  '525': 'ad-user-not-found',
  '52e': 'invalid-credentials',
  '530': 'logon-hours',
  '531': 'workstation-restricted',
  '532': 'password-expired',
  '533': 'account-disabled',
  '701': 'account-expired',
  '773': 'must-change-password',
  '775': 'account-locked',
});

/** Extracts the AD sub-code (`52e`, `775`...) from a diagnostic message, lower-cased. */
export function parseAdSubCode(message: string): string | undefined {
  // AD: "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563"
  return /\bdata ([0-9a-f]{3,8})\b/i.exec(message)?.[1]?.toLowerCase();
}

/** The reason a ppolicy response control gives, if any. */
export function reasonFromPasswordPolicy(
  value: PasswordPolicyValue | undefined,
): LdapFailureReason | undefined {
  if (value === undefined) return undefined;
  switch (value.error) {
    case PasswordPolicyError.AccountLocked:
      return 'account-locked';
    case PasswordPolicyError.PasswordExpired:
      return 'password-expired';
    case PasswordPolicyError.ChangeAfterReset:
      return 'must-change-password';
    default:
      break;
  }
  return value.graceAuthNsRemaining !== undefined ? 'grace-login' : undefined;
}

/** What a user bind's rejection means. */
export type BindOutcome =
  | { readonly kind: 'refused'; readonly reason: LdapFailureReason; readonly adSubCode?: string }
  | { readonly kind: 'error'; readonly error: AuthBridgeError };

// Result codes that mean "these credentials are not good" when the user binds.
const INVALID_CREDENTIALS = 49;
const CONSTRAINT_VIOLATION = 19;
const UNWILLING_TO_PERFORM = 53;
const INAPPROPRIATE_AUTH = 48;
// The entry or search base is held by another server (RFC 4511 §4.1.10).
const REFERRAL = 10;
const BUSY = 51;
const UNAVAILABLE = 52;

/**
 * Classifies a failed user bind: bad credentials (with the most specific reason from the ppolicy
 * control or the AD sub-code) or a directory error.
 */
export function classifyBindError(
  error: unknown,
  policy: PasswordPolicyValue | undefined,
  server?: string,
): BindOutcome {
  if (error instanceof ResultCodeError) {
    if (
      error.code === INVALID_CREDENTIALS ||
      error.code === CONSTRAINT_VIOLATION ||
      error.code === UNWILLING_TO_PERFORM ||
      error.code === INAPPROPRIATE_AUTH
    ) {
      const fromPolicy = reasonFromPasswordPolicy(policy);
      if (fromPolicy !== undefined) return { kind: 'refused', reason: fromPolicy };
      const sub = parseAdSubCode(error.message);
      const fromAd = sub === undefined ? undefined : AD_SUB_CODES[sub];
      if (fromAd !== undefined && sub !== undefined) {
        return { kind: 'refused', reason: fromAd, adSubCode: sub };
      }
      return {
        kind: 'refused',
        reason: error.code === INVALID_CREDENTIALS ? 'invalid-credentials' : 'bind-refused',
      };
    }
  }
  return { kind: 'error', error: toBackendError(error, server) };
}

/**
 * Whether `error` says the server cannot serve now: a transport-level failure (socket, TLS,
 * timeout), or the LDAP results busy (51) and unavailable (52), which describe the server's own
 * state (a directory shutting down, overloaded). Failover and reconnects act on these; any other
 * LDAP result is the server's answer, which another would give as well.
 */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof AuthBridgeError) {
    return error.code === 'BACKEND_UNAVAILABLE' || error.code === 'BACKEND_TIMEOUT';
  }
  if (error instanceof ResultCodeError) return error.code === BUSY || error.code === UNAVAILABLE;
  return true;
}

/**
 * Maps anything a directory operation threw to an {@link AuthBridgeError}: timeouts to
 * BACKEND_TIMEOUT, everything else (refused connections, TLS failures, unexpected result codes
 * such as a missing search base or insufficient access for the service account) to
 * BACKEND_UNAVAILABLE. The server URL and LDAP detail go to `detail`, never to `message`.
 */
export function toBackendError(error: unknown, server?: string): AuthBridgeError {
  if (error instanceof AuthBridgeError) return error;
  const where = server === undefined ? '' : `${server}: `;
  if (error instanceof ResultCodeError) {
    // Referrals are never followed: they name another server, which would then see the service
    // account's or the user's password. Configure that server (or a global catalog) instead.
    const why =
      error.code === REFERRAL
        ? 'a referral to another server, not followed (point the search base at data this server holds)'
        : error.name;
    return new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
      detail: `${where}LDAP result ${error.code} (${why})`,
      cause: error,
    });
  }
  const e = error as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const sysCode = typeof e?.code === 'string' ? e.code : undefined;
  const timedOut =
    sysCode === 'ETIMEDOUT' || /timed? ?out|timeout/i.test(message) || sysCode === 'ABORT_ERR';
  return new AuthBridgeError(timedOut ? 'BACKEND_TIMEOUT' : 'BACKEND_UNAVAILABLE', undefined, {
    detail: `${where}${sysCode ?? ''} ${message.split('\n')[0] ?? ''}`.trim(),
    cause: error,
  });
}
