/**
 * Mode 1: OAuth 2.0 Token Introspection (RFC 7662).
 *
 * @packageDocumentation
 */
import type { Clock } from '@authbridge/core';
import { randomUUID } from 'node:crypto';
import { type ClaimPolicy, checkClaims } from './claims.js';
import type { ClientAuthApplier } from './client-auth.js';
import type { CheckedCredential, CredentialVerifier, Verdict } from './credential-verifier.js';
import type { Deadline } from './deadline.js';
import { parseJsonObject } from './json-body.js';
import { fromStatus, malformedResponse, upstreamLabel } from './map-upstream-error.js';
import type { UpstreamClient } from './upstream-client.js';

/** What {@link IntrospectionVerifier} needs, resolved. */
export interface IntrospectionSettings {
  readonly endpoint: URL;
  readonly applyClientAuth: ClientAuthApplier;
  readonly tokenTypeHint: string | null;
  readonly policy: ClaimPolicy;
  readonly upstream: UpstreamClient;
  readonly clock: Clock;
  readonly close: () => void;
}

/**
 * POSTs `token` (+ `token_type_hint`) as a form with client authentication, and believes the
 * answer only if it is a 200 JSON object whose `active` is the boolean `true` and whose claims
 * pass the local checks (exp, nbf, iss, aud, client_id, token_type). `active:false` is an invalid
 * token; anything else (non-200, not JSON, `active` not a boolean, a claim of the wrong type) is
 * an upstream failure, never "inactive".
 */
export class IntrospectionVerifier implements CredentialVerifier {
  readonly #s: IntrospectionSettings;
  readonly #label: string;

  constructor(settings: IntrospectionSettings) {
    this.#s = settings;
    this.#label = upstreamLabel(settings.endpoint);
  }

  async verify(credential: CheckedCredential, deadline: Deadline): Promise<Verdict> {
    if (credential.kind !== 'token') return { ok: false, reason: 'not a token' };
    return this.introspect(credential.token, deadline);
  }

  /** Introspects `token` and applies the local claim checks. */
  async introspect(token: string, deadline: Deadline): Promise<Verdict> {
    const claims = await this.#query(token, deadline);
    if (claims === null) return { ok: false, reason: 'inactive' };
    return checkClaims(claims, this.#s.policy, this.#s.clock.now(), this.#label);
  }

  /**
   * Whether the server says `token` is active, nothing more: the JWT mode's revocation check,
   * whose claims were already verified from the signed token.
   */
  async isActive(token: string, deadline: Deadline): Promise<boolean> {
    return (await this.#query(token, deadline)) !== null;
  }

  /**
   * Introspects a random token: an authorization server that works answers `active: false`
   * (RFC 7662 §2.2); one that is down, or refuses our client credentials, does not.
   */
  async probe(deadline: Deadline): Promise<void> {
    await this.#query(`authbridge-readiness-${randomUUID()}`, deadline);
  }

  // The response body when active, null when inactive; throws when there is no usable answer.
  async #query(token: string, deadline: Deadline): Promise<Record<string, unknown> | null> {
    const response = await this.#s.upstream.send(async () => {
      const form = new URLSearchParams();
      form.set('token', token);
      if (this.#s.tokenTypeHint !== null) form.set('token_type_hint', this.#s.tokenTypeHint);
      const headers: Record<string, string> = {
        accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
      };
      await this.#s.applyClientAuth(form, headers);
      return { url: this.#s.endpoint, method: 'POST', headers, body: form.toString() };
    }, deadline);
    // RFC 7662 §2.3: a query about a bad token is a 200 with active:false. A 4xx means our own
    // request was refused (client authentication, unsupported token type): not the token's fault.
    if (response.status !== 200) throw fromStatus(response.status, this.#label);
    const body = parseJsonObject(response.body, this.#label);
    const active = body['active'];
    if (typeof active !== 'boolean') {
      throw malformedResponse(this.#label, '"active" is not a boolean');
    }
    return active ? body : null;
  }

  close(): void {
    this.#s.close();
  }
}
