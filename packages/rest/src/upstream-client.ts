/**
 * HTTP calls to an upstream: one deadline per check, at most one retry inside it, a circuit
 * breaker around it, a cap on the response size, and no redirects.
 *
 * @packageDocumentation
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isAuthBridgeError } from '@authbridge/core';
import type { CircuitBreaker } from './circuit-breaker.js';
import type { Deadline } from './deadline.js';
import type { RestLogger } from './logger.js';
import {
  fromStatus,
  fromTransportError,
  isUpstreamFailure,
  oversizedResponse,
} from './map-upstream-error.js';

/**
 * The subset of `fetch` the backend uses. The global `fetch` fits; so does undici's, or a wrapper
 * that adds a client certificate ({@link createTlsClientFetch}), a proxy or tracing headers.
 */
export type FetchLike = (input: string | URL, init: RequestInit) => Promise<Response>;

/** One HTTP request to an upstream. */
export interface UpstreamRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
}

/** The answer: status, headers and the whole body as text (already read within the deadline). */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/** How {@link UpstreamClient} behaves. */
export interface UpstreamClientSettings {
  readonly fetch: FetchLike;
  /**
   * The upstream's name in error details and logs: the configured URL's origin and path
   * (`upstreamLabel`), never taken from a request, whose URL a hook may have built from the
   * credential.
   */
  readonly label: string;
  /** Absent: no breaker (every call is attempted). */
  readonly breaker: CircuitBreaker | undefined;
  /** Retry once on a transport error or a 5xx, when the deadline leaves room. */
  readonly retry: boolean;
  readonly maxResponseBytes: number;
  readonly logger: RestLogger;
}

// A retry is attempted only if at least this much of the deadline is left: a retry with no time
// to finish only turns a fast 503 into a slow one.
const MIN_RETRY_BUDGET_MS = 50;
const RETRY_DELAY_MIN_MS = 10;
const RETRY_DELAY_MAX_MS = 50;

/**
 * Sends requests to one upstream. Every 2xx and 4xx response is returned for the caller to judge
 * (RFC 7662 `active:false` and in-house "401 means bad credential" both arrive as answers); 5xx,
 * 429, redirects, transport errors and timeouts become AuthBridgeError BACKEND_UNAVAILABLE or
 * BACKEND_TIMEOUT.
 */
export class UpstreamClient {
  readonly #settings: UpstreamClientSettings;

  constructor(settings: UpstreamClientSettings) {
    this.#settings = settings;
  }

  /**
   * Sends the request `build` makes (called again for the retry, so per-attempt values such as a
   * client assertion's `jti` are fresh).
   *
   * @throws {AuthBridgeError} BACKEND_UNAVAILABLE (breaker open, transport error, 5xx, 429, 3xx,
   * oversized body) or BACKEND_TIMEOUT (the deadline passed).
   */
  async send(
    build: () => UpstreamRequest | Promise<UpstreamRequest>,
    deadline: Deadline,
  ): Promise<UpstreamResponse> {
    const breaker = this.#settings.breaker;
    const call = breaker?.acquire();
    try {
      const response = await this.#attempts(build, deadline);
      call?.succeeded();
      return response;
    } catch (error) {
      if (isUpstreamFailure(error)) call?.failed();
      else call?.released();
      throw error;
    }
  }

  async #attempts(
    build: () => UpstreamRequest | Promise<UpstreamRequest>,
    deadline: Deadline,
  ): Promise<UpstreamResponse> {
    // The configured URL's label, not the built request's: `hooks.request` may put the token in
    // the path (GET /sessions/{token}), and this label goes into error details and warn logs.
    const { label } = this.#settings;
    for (let attempt = 1; ; attempt += 1) {
      const request = await build();
      let failure;
      try {
        const response = await this.#settings.fetch(request.url, {
          method: request.method,
          headers: request.headers,
          body: request.body ?? null,
          signal: deadline.signal,
          // A moved endpoint is a misconfiguration; following it would resend client credentials
          // (and the token) to wherever the Location header points.
          redirect: 'manual',
        });
        const { status } = response;
        if (status >= 500 || status === 429 || (status >= 300 && status < 400)) {
          await response.body?.cancel().catch(() => undefined);
          failure = fromStatus(status, label);
          // Only a 5xx is worth retrying: 429 asks us to back off, 3xx will not change.
          if (status < 500) throw failure;
        } else {
          const body = await readBody(response, this.#settings.maxResponseBytes, label);
          return { status, headers: response.headers, body };
        }
      } catch (error) {
        if (isAuthBridgeError(error)) throw error;
        failure = fromTransportError(error, label, deadline.signal.aborted);
        if (failure.code === 'BACKEND_TIMEOUT') throw failure;
      }
      if (attempt >= 2 || !this.#settings.retry || deadline.remaining() < MIN_RETRY_BUDGET_MS) {
        throw failure;
      }
      this.#settings.logger.debug('rest.upstream_retry', {
        upstream: label,
        reason: failure.detail,
      });
      const delay = Math.min(
        RETRY_DELAY_MIN_MS + Math.random() * (RETRY_DELAY_MAX_MS - RETRY_DELAY_MIN_MS),
        deadline.remaining() / 4,
      );
      try {
        await sleep(delay, undefined, { signal: deadline.signal });
      } catch (error) {
        throw fromTransportError(error, label, true);
      }
    }
  }
}

// Drops one leading byte order mark (ignoreBOM is false by default), as fetch's text() and json()
// do; Buffer's toString keeps it, and JSON.parse refuses it. RFC 8259 §8.1 allows ignoring it.
const UTF8 = new TextDecoder('utf-8');

/**
 * Reads the body as UTF-8 text (without a leading byte order mark), refusing more than `limit`
 * bytes: an upstream (or something impersonating it) must not be able to make us buffer gigabytes.
 *
 * @throws {AuthBridgeError} BACKEND_UNAVAILABLE past the limit.
 */
export async function readBody(response: Response, limit: number, label: string): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw oversizedResponse(label, limit);
  }
  if (response.body === null) return '';
  // Always streamed and counted, even under a declared length: with a Content-Encoding that
  // length is the compressed size, and fetch decompresses — a 20 kB gzip body can inflate to
  // 20 MB. The cap is on what we would hold.
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw oversizedResponse(label, limit);
    }
    chunks.push(value);
  }
  return UTF8.decode(Buffer.concat(chunks));
}
