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
 * @throws {AuthBridgeError} CONFIG_INVALID naming the key path and the variable of every unset
 * one, a line each (all of them, so one run shows everything to set).
 */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv): unknown {
  const { value: out, unset } = substituteEnv(value, env);
  if (unset.length > 0) {
    throw new AuthBridgeError(
      'CONFIG_INVALID',
      unset.map((u) => `${u.path}: environment variable ${u.name} is not set`).join('\n'),
    );
  }
  return out;
}

/** A `${NAME}` with no such variable, at a key path (`(root)` for the top). */
export interface UnsetVariable {
  readonly path: string;
  readonly name: string;
}

/**
 * {@link interpolateEnv} without throwing: unset variables become empty strings and are listed,
 * so validation can go on and report them with every other problem.
 */
export function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
): { value: unknown; unset: UnsetVariable[] } {
  const unset: UnsetVariable[] = [];
  return { value: walk(value, env, '', unset), unset };
}

function walk(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: string,
  unset: UnsetVariable[],
): unknown {
  if (typeof value === 'string') {
    return value.replace(PATTERN, (_match, name: string | undefined) => {
      if (name === undefined) return '${';
      const found = env[name];
      if (found === undefined) {
        unset.push({ path: path || '(root)', name });
        return '';
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => walk(v, env, `${path}[${i}]`, unset));
  if (value !== null && typeof value === 'object') {
    // A null-prototype copy: keys such as `__proto__` in YAML stay plain data.
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value))
      out[k] = walk(v, env, path ? `${path}.${k}` : k, unset);
    return out;
  }
  return value;
}
