// Test doubles for unit tests: a recording logger and a scripted fetch.
import type { FetchLike, LogFields, RestLogger } from '@authbridge/rest';

export interface LogRecord {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly event: string;
  readonly fields: LogFields;
}

/** A logger that keeps every record. */
export function recordingLogger(): RestLogger & { readonly records: LogRecord[]; text(): string } {
  const records: LogRecord[] = [];
  const at =
    (level: LogRecord['level']) =>
    (event: string, fields: LogFields): void => {
      records.push({ level, event, fields });
    };
  return {
    records,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    text: () => JSON.stringify(records),
  };
}

/** One scripted answer: a response, an error to throw, or "hang until aborted". */
export type Script =
  | {
      readonly status: number;
      readonly body?: string | object;
      readonly headers?: Record<string, string>;
    }
  | { readonly throws: Error }
  | { readonly hang: true };

export interface FakeFetch extends FetchLike {
  readonly calls: { url: string; init: RequestInit }[];
}

/**
 * A fetch that answers from `script` (called with the call index and request), recording every
 * call. `hang` waits for the request's signal to abort, as a server that never answers.
 */
export function fakeFetch(
  script: (call: number, url: string, init: RequestInit) => Script,
): FakeFetch {
  const calls: { url: string; init: RequestInit }[] = [];
  const fn = async (input: string | URL, init: RequestInit): Promise<Response> => {
    const url = String(input);
    calls.push({ url, init });
    const answer = script(calls.length, url, init);
    if ('throws' in answer) throw answer.throws;
    if ('hang' in answer) {
      return new Promise<Response>((_resolve, reject) => {
        const signal = init.signal;
        if (!signal) return;
        if (signal.aborted) reject(signal.reason as Error);
        signal.addEventListener(
          'abort',
          () => {
            reject(signal.reason as Error);
          },
          { once: true },
        );
      });
    }
    const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
    return new Response(body, {
      status: answer.status,
      headers: { 'content-type': 'application/json', ...answer.headers },
    });
  };
  return Object.assign(fn, { calls });
}

/** A fetch failure as undici reports a refused connection. */
export function connectionRefused(): Error {
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
    code: 'ECONNREFUSED',
  });
  return new TypeError('fetch failed', { cause });
}

/** A copy of `value` without `key` (a claim or option left out on purpose). */
export function omit(value: object, key: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== key));
}
