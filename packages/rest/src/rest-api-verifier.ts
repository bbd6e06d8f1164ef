/**
 * Mode 2: a team's own "is this credential good?" REST endpoint, described by a request template
 * and a response mapping, with hooks for what the template cannot say.
 *
 * @packageDocumentation
 */
import type { Clock } from '@authbridge/core';
import type { CheckedCredential, CredentialVerifier, Verdict } from './credential-verifier.js';
import type { Deadline } from './deadline.js';
import { getPath, parseJsonObject } from './json-body.js';
import { fromStatus, malformedResponse, upstreamLabel } from './map-upstream-error.js';
import { createPrincipal, type TokenPrincipalInit } from './token-principal.js';
import type { UpstreamClient, UpstreamRequest } from './upstream-client.js';

/** Where the token goes in the request. */
export type TokenPlacement =
  | {
      /** A header; default `authorization` with prefix `Bearer `. */
      readonly in: 'header';
      readonly name?: string;
      readonly prefix?: string;
    }
  | {
      /** A body field (JSON or form); default field `token`. */
      readonly in: 'body';
      readonly field?: string;
    }
  | {
      /**
       * A query parameter. Query strings end up in access logs, proxies and traces, which is why
       * this needs the explicit flag.
       */
      readonly in: 'query';
      readonly param: string;
      readonly dangerouslyAllowTokenInQuery: true;
    };

/** Where a username and password go in the request. */
export type PasswordPlacement =
  | {
      /** Body fields (JSON or form); default `username` and `password`. */
      readonly in: 'body';
      readonly usernameField?: string;
      readonly passwordField?: string;
    }
  | {
      /** `Authorization: Basic` (RFC 7617). */
      readonly in: 'basic';
    };

/** What the hooks see of the response. */
export interface RestResponseHookInput {
  readonly status: number;
  /** The parsed JSON body (an object). */
  readonly body: Readonly<Record<string, unknown>>;
  /** What the mapping made of it: a principal, or null for "not valid" (or no mapping). */
  readonly mapped: TokenPrincipalInit | null;
  readonly credentialKind: 'token' | 'password';
  /** The username, for password credentials. Never the token or password. */
  readonly username: string | undefined;
}

/** Code for what the template cannot say. */
export interface RestApiHooks {
  /** Rewrites the request before it is sent (signing, extra headers...). Called per attempt. */
  readonly request?: (
    request: UpstreamRequest,
    credential: CheckedCredential,
  ) => UpstreamRequest | Promise<UpstreamRequest>;
  /**
   * Decides from a 2xx response: return a principal, null (credential not valid), or undefined
   * to keep the mapping's result. May throw PermissionDenied to veto.
   */
  readonly response?: (
    input: RestResponseHookInput,
  ) => TokenPrincipalInit | null | undefined | Promise<TokenPrincipalInit | null | undefined>;
}

/** A resolved field path. */
type Path = readonly string[];

/** The resolved response mapping. */
export interface ResolvedMapping {
  readonly valid: Path;
  readonly validValue: string | number | boolean;
  readonly subject: Path;
  readonly username: Path | undefined;
  readonly email: Path | undefined;
  readonly displayName: Path | undefined;
  readonly groups: Path | undefined;
  readonly permissions: Path | undefined;
  readonly scope: Path | undefined;
  readonly clientId: Path | undefined;
  readonly audience: Path | undefined;
  readonly expiresAt: Path | undefined;
  readonly expiresAtUnit: 'seconds' | 'milliseconds';
  readonly attributes: readonly (readonly [string, Path])[];
}

/** What {@link RestApiVerifier} needs, resolved. */
export interface RestApiSettings {
  readonly issuer: string;
  readonly url: URL;
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly headers: Readonly<Record<string, string>>;
  readonly bodyFormat: 'json' | 'form';
  readonly token: TokenPlacement | null;
  readonly password: PasswordPlacement | null;
  readonly extraFields: Readonly<Record<string, string | number | boolean>>;
  /** Absent when a response hook alone decides. */
  readonly mapping: ResolvedMapping | undefined;
  readonly invalidStatuses: ReadonlySet<number>;
  readonly audience: readonly string[] | null;
  readonly clockToleranceSec: number;
  readonly hooks: RestApiHooks;
  readonly upstream: UpstreamClient;
  readonly clock: Clock;
}

/**
 * Sends the credential where the template says, then reads the answer: a status in
 * `invalidStatuses` (default 401, 403, 404) or a body whose `valid` field is not strictly
 * `validValue` means "not valid"; another non-2xx status, a non-JSON body, or a mapped field of
 * the wrong type is an upstream failure.
 */
export class RestApiVerifier implements CredentialVerifier {
  readonly #s: RestApiSettings;
  readonly #label: string;

  constructor(settings: RestApiSettings) {
    this.#s = settings;
    this.#label = upstreamLabel(settings.url);
  }

  async verify(credential: CheckedCredential, deadline: Deadline): Promise<Verdict> {
    if (credential.kind === 'token' ? this.#s.token === null : this.#s.password === null) {
      return { ok: false, reason: `${credential.kind} credentials not configured` };
    }
    // RFC 7617: a user-id containing a colon cannot be sent in Basic.
    if (
      credential.kind === 'password' &&
      this.#s.password?.in === 'basic' &&
      credential.username.includes(':')
    ) {
      return { ok: false, reason: 'username not representable in Basic' };
    }
    const response = await this.#s.upstream.send(async () => {
      const request = this.#build(credential);
      return this.#s.hooks.request ? this.#s.hooks.request(request, credential) : request;
    }, deadline);
    if (this.#s.invalidStatuses.has(response.status)) {
      return { ok: false, reason: `status ${response.status}` };
    }
    if (response.status < 200 || response.status > 299) {
      throw fromStatus(response.status, this.#label);
    }
    const body = parseJsonObject(response.body, this.#label);
    let init = this.#s.mapping === undefined ? null : this.#map(body, this.#s.mapping);
    if (this.#s.hooks.response) {
      const decided = await this.#s.hooks.response({
        status: response.status,
        body,
        mapped: init,
        credentialKind: credential.kind,
        username: credential.kind === 'password' ? credential.username : undefined,
      });
      // The hook's objects are copied: the principal freezes what it holds.
      if (decided !== undefined) init = decided === null ? null : structuredClone(decided);
    }
    if (init === null) return { ok: false, reason: 'not valid' };
    const now = this.#s.clock.now();
    const tolerance = this.#s.clockToleranceSec * 1000;
    if (init.expiresAt !== undefined && now >= init.expiresAt + tolerance) {
      return { ok: false, reason: 'expired' };
    }
    const { audience } = this.#s;
    if (audience !== null && !(init.audience ?? []).some((a) => audience.includes(a))) {
      return { ok: false, reason: 'audience' };
    }
    return { ok: true, principal: createPrincipal(this.#s.issuer, { ...init, claims: body }) };
  }

  close(): void {
    // The fetch belongs to the caller (or is the global one); nothing of our own to release.
  }

  #build(credential: CheckedCredential): UpstreamRequest {
    const s = this.#s;
    const url = new URL(s.url);
    const headers: Record<string, string> = { accept: 'application/json', ...s.headers };
    const fields: Record<string, string | number | boolean> = { ...s.extraFields };
    if (credential.kind === 'token' && s.token !== null) {
      const placement = s.token;
      if (placement.in === 'header') {
        headers[placement.name ?? 'authorization'] =
          `${placement.prefix ?? 'Bearer '}${credential.token}`;
      } else if (placement.in === 'body') {
        fields[placement.field ?? 'token'] = credential.token;
      } else {
        url.searchParams.set(placement.param, credential.token);
      }
    } else if (credential.kind === 'password' && s.password !== null) {
      const placement = s.password;
      if (placement.in === 'basic') {
        headers['authorization'] = `Basic ${Buffer.from(
          `${credential.username}:${credential.password}`,
        ).toString('base64')}`;
      } else {
        fields[placement.usernameField ?? 'username'] = credential.username;
        fields[placement.passwordField ?? 'password'] = credential.password;
      }
    }
    let body: string | undefined;
    if (Object.keys(fields).length > 0) {
      if (s.bodyFormat === 'json') {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(fields);
      } else {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(
          Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)]),
        ).toString();
      }
    }
    return { url, method: s.method, headers, body };
  }

  #map(body: Record<string, unknown>, m: ResolvedMapping): TokenPrincipalInit | null {
    const valid = getPath(body, m.valid);
    if (valid === undefined) throw this.#bad(m.valid);
    if (valid !== m.validValue) return null;
    const subject = getPath(body, m.subject);
    if (
      !(typeof subject === 'string' && subject !== '') &&
      !(typeof subject === 'number' && Number.isFinite(subject))
    ) {
      throw this.#bad(m.subject);
    }
    const attributes: Record<string, unknown> = {};
    for (const [name, path] of m.attributes) {
      const value = getPath(body, path);
      if (value !== undefined) attributes[name] = value;
    }
    return {
      subject: String(subject),
      username: this.#string(body, m.username),
      email: this.#string(body, m.email),
      displayName: this.#string(body, m.displayName),
      groups: this.#list(body, m.groups),
      permissions: this.#list(body, m.permissions),
      scopes: this.#scopes(body, m.scope),
      clientId: this.#string(body, m.clientId),
      audience: this.#list(body, m.audience),
      expiresAt: this.#time(body, m.expiresAt, m.expiresAtUnit),
      attributes,
    };
  }

  #string(body: unknown, path: Path | undefined): string | undefined {
    if (path === undefined) return undefined;
    const value = getPath(body, path);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw this.#bad(path);
    return value;
  }

  #list(body: unknown, path: Path | undefined): string[] | undefined {
    if (path === undefined) return undefined;
    const value = getPath(body, path);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return [value];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
    throw this.#bad(path);
  }

  #scopes(body: unknown, path: Path | undefined): string[] | undefined {
    if (path === undefined) return undefined;
    const value = getPath(body, path);
    if (typeof value === 'string') return value.split(' ').filter((s) => s !== '');
    return this.#list(body, path);
  }

  #time(
    body: unknown,
    path: Path | undefined,
    unit: 'seconds' | 'milliseconds',
  ): number | undefined {
    if (path === undefined) return undefined;
    const value = getPath(body, path);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number' && Number.isFinite(value)) {
      return unit === 'seconds' ? value * 1000 : value;
    }
    if (typeof value === 'string') {
      const parsed = Date.parse(value);
      if (Number.isFinite(parsed)) return parsed;
    }
    throw this.#bad(path);
  }

  #bad(path: Path): Error {
    return malformedResponse(this.#label, `field ${path.join('.')} missing or of the wrong type`);
  }
}
