/**
 * Masks secrets in credentials before they leave the chain in a `loginFailed` event.
 *
 * @packageDocumentation
 */

/** Keys whose values are masked (Django's `_clean_credentials` pattern, case-insensitive). */
export const SENSITIVE_CREDENTIAL_KEY = /api|token|key|secret|password|signature/i;

/** What a masked value becomes: 20 asterisks, as in Django. */
export const CLEANSED_SUBSTITUTE = '********************';

/**
 * Returns a copy of `credentials` with every top-level key matching
 * {@link SENSITIVE_CREDENTIAL_KEY} replaced by {@link CLEANSED_SUBSTITUTE}. Unlike Django it never
 * mutates the input. A non-object is returned as `{}`: a bare string might itself be a secret.
 */
export function cleanCredentials(credentials: unknown): Readonly<Record<string, unknown>> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (credentials === null || typeof credentials !== 'object') return Object.freeze(out);
  for (const [key, value] of Object.entries(credentials)) {
    out[key] = SENSITIVE_CREDENTIAL_KEY.test(key) ? CLEANSED_SUBSTITUTE : value;
  }
  return Object.freeze(out);
}
