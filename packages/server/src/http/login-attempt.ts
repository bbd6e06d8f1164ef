/**
 * Which `loginFailed` events are login attempts.
 *
 * @packageDocumentation
 */

/**
 * Whether a failure is a login attempt (a form or SAML login) rather than a rejected bearer token.
 * The chain fires `loginFailed` for both; a bad token is not a login, and shows as a 401 in the
 * request metrics and the access log instead. Shared by the metrics and the audit log.
 */
export function isLoginAttempt(credentials: Readonly<Record<string, unknown>>): boolean {
  return !('token' in credentials);
}
