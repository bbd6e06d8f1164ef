/**
 * The contract between the backend (cache, single-flight, breaker, users) and a mode (how one
 * credential is checked upstream).
 *
 * @packageDocumentation
 */
import type { Deadline } from './deadline.js';
import type { TokenPrincipal } from './token-principal.js';

/** A credential as the backend hands it to a mode, already shape-checked. */
export type CheckedCredential =
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'password'; readonly username: string; readonly password: string };

/** A mode's verdict on one credential. `reason` is for debug logs only. */
export type Verdict =
  | { readonly ok: true; readonly principal: TokenPrincipal }
  | { readonly ok: false; readonly reason: string };

/** One mode: introspection, in-house REST or JWT. */
export interface CredentialVerifier {
  /**
   * Checks a credential. Resolves with a verdict for any answer the upstream gave about the
   * credential; rejects with AuthBridgeError BACKEND_UNAVAILABLE or BACKEND_TIMEOUT when it gave
   * none (those are never cached).
   */
  verify(credential: CheckedCredential, deadline: Deadline): Promise<Verdict>;
  /**
   * Asks the upstream a question with a harmless answer, for readiness: resolves when it
   * answered, rejects with BACKEND_UNAVAILABLE / BACKEND_TIMEOUT when not. Absent (or a no-op) for
   * modes that have no such question (a JWT without revocation needs no call; a password service
   * must not see made-up logins).
   */
  probe?(deadline: Deadline): Promise<void>;
  /** Releases connection pools. Idempotent. */
  close(): void;
}
