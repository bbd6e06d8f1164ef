/**
 * Reading, interpolating and validating the YAML configuration.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { z } from 'zod';
import { substituteEnv } from './interpolate.js';
import { configSchema, type HostConfig } from './schema.js';

/**
 * Validates a configuration object (already parsed). Errors name the path of every bad key.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID with one line per problem.
 */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): HostConfig {
  const { value, unset } = substituteEnv(raw, env);
  const result = configSchema.safeParse(value);
  if (!result.success || unset.length > 0) {
    // Every unset variable, then every other problem: a key whose variable is unset is reported
    // for that alone (its empty stand-in would only add a second, misleading line).
    const unsetPaths = new Set(unset.map((u) => u.path));
    const lines = [
      ...unset.map((u) => `  ${u.path}: environment variable ${u.name} is not set`),
      ...formatIssues(result.error?.issues ?? [])
        .filter((issue) => !unsetPaths.has(issue.path))
        .map((issue) => issue.line),
    ];
    throw new AuthBridgeError('CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`);
  }
  return deepFreeze(result.data);
}

/** Reads and validates a YAML file. */
export async function loadConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<HostConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new AuthBridgeError('CONFIG_INVALID', `cannot read ${path}`, { cause });
  }
  let raw: unknown;
  try {
    // YAML 1.2 core schema: no custom tags, so a config file cannot construct objects.
    raw = parse(text, { schema: 'core', maxAliasCount: 100 });
  } catch (cause) {
    throw new AuthBridgeError('CONFIG_INVALID', `${path}: ${(cause as Error).message}`, { cause });
  }
  return parseConfig(raw, env);
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): { path: string; line: string }[] {
  return issues.map((issue) => {
    const path = issue.path.reduce<string>(
      (acc, part) =>
        typeof part === 'number'
          ? `${acc}[${part}]`
          : acc
            ? `${acc}.${String(part)}`
            : String(part),
      '',
    );
    return { path: path || '(root)', line: `  ${path || '(root)'}: ${issue.message}` };
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
