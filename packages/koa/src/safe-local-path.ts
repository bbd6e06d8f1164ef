/**
 * Redirect targets limited to this site: the guard against open redirects.
 *
 * @packageDocumentation
 */

/**
 * `value` if it is a same-origin path, else undefined: it must start with one `/` (not `//` or
 * `/\`), and hold no control characters or backslashes, at most 2048 characters.
 */
export function safeLocalPath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return undefined;
  if (!value.startsWith('/') || value.startsWith('//')) return undefined;
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point.
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return undefined;
  return value;
}
