/**
 * Reading JSON response bodies and picking fields out of them by dotted path.
 *
 * @packageDocumentation
 */
import { malformedResponse } from './map-upstream-error.js';

/**
 * Parses `text` as a JSON object.
 *
 * @throws {AuthBridgeError} BACKEND_UNAVAILABLE when it is not JSON or not an object.
 */
export function parseJsonObject(text: string, upstream: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw malformedResponse(upstream, 'not JSON', cause);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw malformedResponse(upstream, 'not a JSON object');
  }
  return value as Record<string, unknown>;
}

/**
 * Checks a dotted path (`user.id`, `data.roles.0`) at configuration time.
 *
 * @returns the path's segments, or undefined when it is not a valid path.
 */
export function parsePath(path: unknown): readonly string[] | undefined {
  if (typeof path !== 'string' || path === '') return undefined;
  const segments = path.split('.');
  if (
    segments.some((s) => s === '' || s === '__proto__' || s === 'constructor' || s === 'prototype')
  ) {
    return undefined;
  }
  return Object.freeze(segments);
}

/** The value at `segments` in `value`, following own properties only; undefined when absent. */
export function getPath(value: unknown, segments: readonly string[]): unknown {
  let current = value;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, segment)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}
