/**
 * Permission checks answered by a remote endpoint, with their own cache.
 *
 * @packageDocumentation
 */
import { hash } from 'node:crypto';
import { AuthBridgeError, type Clock } from '@authbridge/core';
import { Deadline } from './deadline.js';
import { getPath, parseJsonObject } from './json-body.js';
import type { LruTtlCache } from './lru-ttl-cache.js';
import { fromStatus, malformedResponse, upstreamLabel } from './map-upstream-error.js';
import type { SingleFlight } from './single-flight.js';
import type { UpstreamClient } from './upstream-client.js';

/** A remote decision: granted, explicitly denied (a veto), or not granted. */
export type PermissionDecision = 'allow' | 'deny' | 'none';

/** Who is asking about a permission, as sent to the endpoint. */
export interface PermissionSubject {
  readonly issuer: string;
  readonly subject: string;
  readonly username: string;
}

/** What {@link RemotePermissions} needs, resolved. */
export interface RemotePermissionSettings {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly objectId: ((obj: unknown) => string | undefined) | undefined;
  readonly allowed: readonly string[];
  readonly denied: readonly string[];
  readonly ttlMs: number;
  readonly negativeTtlMs: number;
  readonly deadlineMs: number;
  readonly cache: LruTtlCache<PermissionDecision> | undefined;
  readonly flights: SingleFlight<PermissionDecision>;
  readonly upstream: UpstreamClient;
  readonly clock: Clock;
}

/**
 * POSTs `{ issuer, subject, username, permission, object? }` as JSON and reads the decision from
 * a 200 JSON object: `allowed` strictly `true` grants, `denied` strictly `true` is an explicit
 * deny, anything else is "not granted". Any other status or body is an upstream failure (fail
 * closed: the permission check rejects, it does not quietly say no). Decisions are cached (an
 * allow or a deny for `ttlMs`, "not granted" for `negativeTtlMs`); errors are not.
 */
export class RemotePermissions {
  readonly #s: RemotePermissionSettings;
  readonly #label: string;
  // Aborted by close(): a question in flight stops at once.
  readonly #closing = new AbortController();

  constructor(settings: RemotePermissionSettings) {
    this.#s = settings;
    this.#label = upstreamLabel(settings.url);
  }

  /** The decision for `perm` (on `obj`); objects without an id get "none" without a call. */
  async decide(who: PermissionSubject, perm: string, obj: unknown): Promise<PermissionDecision> {
    let object: string | undefined;
    if (obj !== undefined && obj !== null) {
      object = this.#s.objectId?.(obj);
      if (object === undefined) return 'none';
    }
    const key = hash(
      'sha256',
      JSON.stringify([who.issuer, who.subject, who.username, perm, object ?? null]),
      'hex',
    );
    const cached = this.#s.cache?.get(key);
    if (cached !== undefined) return cached;
    return this.#s.flights.run(key, async (isCurrent) => {
      const decision = await this.#ask(who, perm, object);
      if (isCurrent()) {
        const ttl = decision === 'none' ? this.#s.negativeTtlMs : this.#s.ttlMs;
        this.#s.cache?.set(key, decision, this.#s.clock.now() + ttl);
      }
      return decision;
    }).promise;
  }

  /** Drops every cached decision. */
  clear(): void {
    this.#s.cache?.clear();
    this.#s.flights.forget();
  }

  /** Drops every cached decision and cancels the questions in flight. Idempotent. */
  close(): void {
    this.clear();
    this.#closing.abort(new AuthBridgeError('CLOSED'));
  }

  async #ask(
    who: PermissionSubject,
    permission: string,
    object: string | undefined,
  ): Promise<PermissionDecision> {
    const body = JSON.stringify({
      issuer: who.issuer,
      subject: who.subject,
      username: who.username,
      permission,
      ...(object === undefined ? {} : { object }),
    });
    const deadline = new Deadline(this.#s.deadlineMs, this.#closing.signal);
    const response = await this.#s.upstream
      .send(
        () => ({
          url: this.#s.url,
          method: 'POST',
          headers: {
            accept: 'application/json',
            'content-type': 'application/json',
            ...this.#s.headers,
          },
          body,
        }),
        deadline,
      )
      .finally(() => {
        deadline.dispose();
      });
    if (response.status !== 200) throw fromStatus(response.status, this.#label);
    const answer = parseJsonObject(response.body, this.#label);
    const allowed = getPath(answer, this.#s.allowed) === true;
    const denied = getPath(answer, this.#s.denied) === true;
    if (allowed && denied) throw malformedResponse(this.#label, 'both allowed and denied');
    if (denied) return 'deny';
    return allowed ? 'allow' : 'none';
  }
}
