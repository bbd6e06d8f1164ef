/**
 * Reading and checking token claims (an RFC 7662 response, a JWT payload): strict types, then the
 * local checks a resource server makes even when the authorization server says "active".
 *
 * @packageDocumentation
 */
import type { AuthBridgeError } from '@authbridge/core';
import { malformedResponse } from './map-upstream-error.js';
import { createPrincipal, type TokenPrincipal } from './token-principal.js';

/** The local checks applied to every claim set. */
export interface ClaimPolicy {
  /** Expected `iss`. */
  readonly issuer: string;
  /** Reject a claim set with no `iss` (a JWT always has one; an introspection response may not). */
  readonly requireIssuer: boolean;
  /** `aud` must contain one of these; null turns the check off. */
  readonly audience: readonly string[] | null;
  /** `client_id` must be one of these; null allows any. */
  readonly allowedClientIds: ReadonlySet<string> | null;
  /** `token_type` must be one of these (lowercase); null allows any, absent included. */
  readonly tokenTypes: ReadonlySet<string> | null;
  /** Leeway for `exp` and `nbf`, in seconds. */
  readonly clockToleranceSec: number;
  /**
   * Accept a sender-constrained token (a `cnf` claim) as a plain bearer token. False refuses it:
   * its proof of possession (the mTLS certificate of RFC 8705, the DPoP proof of RFC 9449) is not
   * checked here, and accepting it as bearer would undo the constraint.
   */
  readonly ignoreCnf: boolean;
}

/** Either a principal, or why the claims do not describe a usable token. */
export type ClaimCheck =
  | { readonly ok: true; readonly principal: TokenPrincipal }
  | { readonly ok: false; readonly reason: string };

/**
 * Checks `claims` against `policy` at `nowMs` and builds the principal.
 *
 * @throws {AuthBridgeError} BACKEND_UNAVAILABLE when a claim has the wrong type: that is a broken
 * upstream, not a bad token.
 */
export function checkClaims(
  claims: Readonly<Record<string, unknown>>,
  policy: ClaimPolicy,
  nowMs: number,
  upstream: string,
): ClaimCheck {
  const read = new ClaimReader(claims, upstream);
  const exp = read.numericDate('exp');
  const nbf = read.numericDate('nbf');
  const iss = read.string('iss');
  const aud = read.stringList('aud');
  const clientId = read.string('client_id');
  const sub = read.string('sub');
  const tokenType = read.string('token_type');
  const scope = read.scope('scope');
  const username = read.string('username');
  const constrained = read.present('cnf');

  const now = nowMs / 1000;
  const tolerance = policy.clockToleranceSec;
  if (exp !== undefined && now >= exp + tolerance) return fail('expired (exp)');
  if (nbf !== undefined && now < nbf - tolerance) return fail('not yet valid (nbf)');
  if (iss === undefined ? policy.requireIssuer : iss !== policy.issuer) return fail('issuer (iss)');
  const { audience } = policy;
  if (audience !== null && !(aud ?? []).some((a) => audience.includes(a))) {
    return fail('audience (aud)');
  }
  if (
    policy.allowedClientIds !== null &&
    (clientId === undefined || !policy.allowedClientIds.has(clientId))
  ) {
    return fail('client (client_id)');
  }
  if (
    policy.tokenTypes !== null &&
    (tokenType === undefined || !policy.tokenTypes.has(tokenType.toLowerCase()))
  ) {
    return fail('token type (token_type)');
  }
  if (constrained && !policy.ignoreCnf) return fail('sender-constrained (cnf)');
  const subject = sub ?? clientId;
  if (subject === undefined || subject === '') return fail('no subject (sub, client_id)');
  return {
    ok: true,
    principal: createPrincipal(policy.issuer, {
      subject,
      username,
      clientId,
      scopes: scope,
      audience: aud,
      expiresAt: exp === undefined ? undefined : exp * 1000,
      claims,
    }),
  };
}

function fail(reason: string): ClaimCheck {
  return { ok: false, reason };
}

/** Typed reads of claims; a present claim of the wrong type is a malformed response. */
class ClaimReader {
  readonly #claims: Readonly<Record<string, unknown>>;
  readonly #upstream: string;

  constructor(claims: Readonly<Record<string, unknown>>, upstream: string) {
    this.#claims = claims;
    this.#upstream = upstream;
  }

  #get(name: string): unknown {
    return Object.hasOwn(this.#claims, name) ? this.#claims[name] : undefined;
  }

  numericDate(name: string): number | undefined {
    const value = this.#get(name);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw this.#bad(name);
    return value;
  }

  string(name: string): string | undefined {
    const value = this.#get(name);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw this.#bad(name);
    return value;
  }

  stringList(name: string): string[] | undefined {
    const value = this.#get(name);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return [value];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
    throw this.#bad(name);
  }

  /** Whether the claim is there at all (any type: for `cnf`, presence is what counts). */
  present(name: string): boolean {
    const value = this.#get(name);
    return value !== undefined && value !== null;
  }

  // RFC 7662 says space-separated string; some servers send an array. Both are read.
  scope(name: string): string[] | undefined {
    const value = this.#get(name);
    if (typeof value === 'string') return value.split(' ').filter((s) => s !== '');
    return this.stringList(name);
  }

  #bad(name: string): AuthBridgeError {
    return malformedResponse(this.#upstream, `claim ${name} has the wrong type`);
  }
}
