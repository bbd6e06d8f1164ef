/**
 * Replay protection on the core {@link KeyValueStore}, so it holds across hosts as soon as the
 * store is shared:
 *
 * - AuthnRequest IDs are recorded per IdP with a short TTL and consumed once, by `delete`, which
 *   is atomic in every store (node-saml's own cache reads twice then removes, a race);
 * - assertion IDs are recorded with `setIfAbsent` until the assertion expires (plus skew): of two
 *   concurrent submissions of one assertion, exactly one wins, whatever Response wraps it;
 * - LogoutRequest IDs likewise.
 *
 * Store errors propagate (STORE_UNAVAILABLE): without the cache there is no login.
 *
 * @packageDocumentation
 */
import type { KeyValueStore } from '@authbridge/core';
import { protocolInvalid, replayDetected } from './protocol-error.js';

/** What the SP remembers about an AuthnRequest it sent. */
export interface PendingRequest {
  /** When it was issued (epoch ms). */
  readonly issuedAt: number;
  /** Whether it asked for ForceAuthn (then AuthnInstant must be fresh). */
  readonly forceAuthn: boolean;
}

/** Which requests we track: AuthnRequests and LogoutRequests, answered by different messages. */
export type RequestKind = 'req' | 'logout-req';

/** Replay caches over one store, namespaced per IdP. */
export class ReplayCache {
  readonly #store: KeyValueStore;
  readonly #prefix: string;

  constructor(store: KeyValueStore, prefix = 'saml') {
    this.#store = store;
    this.#prefix = prefix;
  }

  #requestKey(kind: RequestKind, idpId: string, requestId: string): string {
    return `${this.#prefix}:${kind}:${idpId}:${requestId}`;
  }

  /** Records an AuthnRequest (`req`) or LogoutRequest (`logout-req`) we sent to `idpId`. */
  async rememberRequest(
    kind: RequestKind,
    idpId: string,
    requestId: string,
    pending: PendingRequest,
    ttlMs: number,
  ): Promise<void> {
    await this.#store.set(this.#requestKey(kind, idpId, requestId), JSON.stringify(pending), ttlMs);
  }

  /**
   * Consumes a request ID: succeeds once per ID, for the IdP it was sent to, before it expires.
   *
   * @throws {AuthBridgeError} PROTOCOL_INVALID when unknown, expired, for another IdP, or used
   */
  async consumeRequest(
    kind: RequestKind,
    idpId: string,
    requestId: string,
  ): Promise<PendingRequest> {
    const key = this.#requestKey(kind, idpId, requestId);
    const raw = await this.#store.get(key);
    // delete() is the atomic step: of concurrent consumers exactly one sees true.
    if (raw === undefined || !(await this.#store.delete(key))) {
      throw protocolInvalid('InResponseTo names no pending request of this IdP');
    }
    try {
      const parsed = JSON.parse(raw) as Partial<PendingRequest>;
      return { issuedAt: Number(parsed.issuedAt), forceAuthn: parsed.forceAuthn === true };
    } catch (cause) {
      throw protocolInvalid('pending request record is corrupt', cause);
    }
  }

  /**
   * Records a one-time message ID (assertion or LogoutRequest) of `issuer` until `ttlMs` from now.
   *
   * @throws {AuthBridgeError} REPLAY_DETECTED when it was recorded before
   */
  async useOnce(
    kind: 'assertion' | 'logout',
    issuer: string,
    id: string,
    ttlMs: number,
  ): Promise<void> {
    const key = `${this.#prefix}:${kind}:${JSON.stringify([issuer, id])}`;
    const fresh = await this.#store.setIfAbsent(key, '1', Math.max(1, Math.ceil(ttlMs)));
    if (!fresh) throw replayDetected(`${kind} ${id} from ${issuer} seen before`);
  }
}
