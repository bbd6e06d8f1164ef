/**
 * Mode 3: JWT access tokens (RFC 9068) verified locally against a key set, optionally also
 * introspected so that revocation is seen.
 *
 * @packageDocumentation
 */
import type { Clock } from '@authbridge/core';
import { type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { type ClaimPolicy, checkClaims } from './claims.js';
import type { CheckedCredential, CredentialVerifier, Verdict } from './credential-verifier.js';
import type { Deadline } from './deadline.js';
import type { IntrospectionVerifier } from './introspection-verifier.js';
import { fromJoseError } from './map-upstream-error.js';

/** What {@link JwtVerifier} needs, resolved. */
export interface JwtSettings {
  /** The key set: jose's remote set (with our fetch and breaker) or a local one. */
  readonly keys: JWTVerifyGetKey;
  /** For error details: the key set URL without query, or `local key set`. */
  readonly keysLabel: string;
  readonly algorithms: readonly string[];
  /** Required `typ` header (`at+jwt`), or null for none. */
  readonly typ: string | null;
  readonly policy: ClaimPolicy & { readonly audience: readonly string[] };
  readonly clock: Clock;
  /** When set, a locally valid token must also be `active` at this introspection endpoint. */
  readonly revocation: IntrospectionVerifier | undefined;
}

/**
 * Verifies signature (algorithm allow-list), `typ`, and the required `iss`, `aud` and `exp`, then
 * the same local checks as introspection (client_id allow-list, subject). Time comes from the
 * injected clock.
 */
export class JwtVerifier implements CredentialVerifier {
  readonly #s: JwtSettings;

  constructor(settings: JwtSettings) {
    this.#s = settings;
  }

  async verify(credential: CheckedCredential, deadline: Deadline): Promise<Verdict> {
    if (credential.kind !== 'token') return { ok: false, reason: 'not a token' };
    const { token } = credential;
    // A JWS compact serialisation has exactly three parts; anything else is not ours to parse.
    if (token.split('.').length !== 3) return { ok: false, reason: 'not a JWS' };
    const { policy } = this.#s;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#s.keys, {
        issuer: policy.issuer,
        audience: [...policy.audience],
        algorithms: [...this.#s.algorithms],
        ...(this.#s.typ === null ? {} : { typ: this.#s.typ }),
        clockTolerance: policy.clockToleranceSec,
        currentDate: new Date(this.#s.clock.now()),
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      const failure = fromJoseError(error, this.#s.keysLabel);
      if (failure.kind === 'invalid') return { ok: false, reason: failure.reason };
      throw failure.error;
    }
    const checked = checkClaims(payload, policy, this.#s.clock.now(), this.#s.keysLabel);
    if (!checked.ok || this.#s.revocation === undefined) return checked;
    const active = await this.#s.revocation.isActive(token, deadline);
    return active ? checked : { ok: false, reason: 'revoked (introspection: inactive)' };
  }

  /**
   * Readiness of what a check calls: with revocation, the introspection endpoint is asked about a
   * random token. The key set is not fetched here; its breaker speaks for it.
   */
  async probe(deadline: Deadline): Promise<void> {
    await this.#s.revocation?.probe(deadline);
  }

  close(): void {
    this.#s.revocation?.close();
  }
}
