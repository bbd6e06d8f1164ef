/**
 * `${NAME}` interpolation of environment variables into configuration strings, so secrets stay out
 * of config files. `$${` is a literal `${`.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';

const PATTERN = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Returns a deep copy of `value` with every `${NAME}` in strings replaced from `env`.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID naming the key path and the variable when one is unset.
 */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(PATTERN, (_match, name: string | undefined) => {
      if (name === undefined) return '${';
      const found = env[name];
      if (found === undefined) {
        throw new AuthBridgeError(
          'CONFIG_INVALID',
          `${path || '(root)'}: environment variable ${name} is not set`,
        );
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    // A null-prototype copy: keys such as `__proto__` in YAML stay plain data.
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value))
      out[k] = interpolateEnv(v, env, path ? `${path}.${k}` : k);
    return out;
  }
  return value;
}
