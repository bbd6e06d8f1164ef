/**
 * How the backend authenticates itself to an authorization server's introspection endpoint
 * (RFC 7662 §2.1 requires that it does): client secret in a Basic header or in the form, a
 * signed client assertion (private_key_jwt, RFC 7523), a TLS client certificate (RFC 8705) or a
 * separate bearer token.
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AuthBridgeError } from '@authbridge/core';
import { type CryptoKey, importJWK, type JWK, SignJWT } from 'jose';
import { checkAssertionKey } from './assertion-key.js';
import type { TlsClientOptions } from './tls-client-fetch.js';

/** Client authentication to the authorization server. */
export type ClientAuthentication =
  | {
      /** RFC 6749 §2.3.1: `Authorization: Basic` with the form-encoded id and secret. */
      readonly method: 'client_secret_basic';
      readonly clientId: string;
      readonly clientSecret: string;
    }
  | {
      /** `client_id` and `client_secret` in the form body. */
      readonly method: 'client_secret_post';
      readonly clientId: string;
      readonly clientSecret: string;
    }
  | {
      /** A JWT signed with the client's private key (RFC 7523), fresh for every request. */
      readonly method: 'private_key_jwt';
      readonly clientId: string;
      /** A private CryptoKey, KeyObject or JWK (with `d`). */
      readonly privateKey: CryptoKey | KeyObject | JWK;
      /**
       * The JWS algorithm: RS256/384/512, PS256/384/512, ES256/384/512, EdDSA or Ed25519. A
       * KeyObject that cannot sign it is CONFIG_INVALID when the backend is built.
       */
      readonly algorithm: string;
      /** `kid` header, when the server needs it to pick the key. */
      readonly keyId?: string;
      /** The assertion's `aud`. Default: the mode's `issuer` (draft-ietf-oauth-rfc7523bis). */
      readonly audience?: string;
      /** Assertion lifetime in seconds. Default 60. */
      readonly lifetimeSec?: number;
    }
  | {
      /** RFC 8705 `tls_client_auth`: the TLS client certificate authenticates; `client_id` in the form. */
      readonly method: 'tls_client_auth';
      readonly clientId: string;
      /** The certificate and key to present (and the CA to trust). */
      readonly tls: TlsClientOptions;
    }
  | {
      /** RFC 7662 §2.1's alternative: a separate bearer token authorizing the introspection call. */
      readonly method: 'bearer';
      readonly token: string;
    };

/** Adds client authentication to a request: form fields and headers. */
export type ClientAuthApplier = (
  form: URLSearchParams,
  headers: Record<string, string>,
) => Promise<void>;

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * Validates `auth` and returns the function that applies it.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID for a missing field or an unknown method.
 */
export function clientAuthApplier(
  auth: ClientAuthentication,
  defaultAudience: string,
  where: string,
): ClientAuthApplier {
  const bad = (what: string): AuthBridgeError =>
    new AuthBridgeError('CONFIG_INVALID', `${where}.${what}`);
  const raw: unknown = auth;
  if (typeof raw !== 'object' || raw === null) throw bad('clientAuth is required');
  const nonEmpty = (value: unknown, name: string): string => {
    if (typeof value !== 'string' || value === '') throw bad(`${name} must be a non-empty string`);
    return value;
  };
  switch (auth.method) {
    case 'client_secret_basic': {
      const header = `Basic ${Buffer.from(
        `${formEncode(nonEmpty(auth.clientId, 'clientAuth.clientId'))}:${formEncode(
          nonEmpty(auth.clientSecret, 'clientAuth.clientSecret'),
        )}`,
      ).toString('base64')}`;
      return async (_form, headers) => {
        headers['authorization'] = header;
      };
    }
    case 'client_secret_post': {
      const clientId = nonEmpty(auth.clientId, 'clientAuth.clientId');
      const clientSecret = nonEmpty(auth.clientSecret, 'clientAuth.clientSecret');
      return async (form) => {
        form.set('client_id', clientId);
        form.set('client_secret', clientSecret);
      };
    }
    case 'private_key_jwt': {
      const clientId = nonEmpty(auth.clientId, 'clientAuth.clientId');
      const algorithm = nonEmpty(auth.algorithm, 'clientAuth.algorithm');
      const audience = auth.audience ?? defaultAudience;
      const lifetime = auth.lifetimeSec ?? 60;
      if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > 600) {
        throw bad('clientAuth.lifetimeSec must be an integer in 1..600');
      }
      const key = auth.privateKey as unknown;
      if (typeof key !== 'object' || key === null) throw bad('clientAuth.privateKey is required');
      checkAssertionKey(key, algorithm, where);
      // A JWK is imported once, lazily; the import is async and may fail, which surfaces on the
      // first request as CONFIG_INVALID.
      let imported: Promise<CryptoKey | KeyObject | Uint8Array> | undefined;
      const signingKey = (): Promise<CryptoKey | KeyObject | Uint8Array> => {
        imported ??= isJwk(key)
          ? importJWK(key, algorithm).catch((cause: unknown) => {
              throw new AuthBridgeError('CONFIG_INVALID', `${where}.clientAuth.privateKey`, {
                cause,
              });
            })
          : Promise.resolve(key as CryptoKey | KeyObject);
        return imported;
      };
      return async (form) => {
        // Wall-clock time, not the injectable clock: the authorization server checks iat/exp
        // against its own real clock.
        const now = Math.floor(Date.now() / 1000);
        const assertion = await new SignJWT({})
          .setProtectedHeader({
            alg: algorithm,
            typ: 'JWT',
            ...(auth.keyId === undefined ? {} : { kid: auth.keyId }),
          })
          .setIssuer(clientId)
          .setSubject(clientId)
          .setAudience(audience)
          .setJti(randomUUID())
          .setIssuedAt(now)
          .setExpirationTime(now + lifetime)
          .sign(await signingKey());
        form.set('client_id', clientId);
        form.set('client_assertion_type', ASSERTION_TYPE);
        form.set('client_assertion', assertion);
      };
    }
    case 'tls_client_auth': {
      const clientId = nonEmpty(auth.clientId, 'clientAuth.clientId');
      const tls: unknown = auth.tls;
      if (
        typeof tls !== 'object' ||
        tls === null ||
        (tls as Partial<TlsClientOptions>).cert === undefined ||
        (tls as Partial<TlsClientOptions>).key === undefined
      ) {
        throw bad('clientAuth.tls needs cert and key');
      }
      return async (form) => {
        form.set('client_id', clientId);
      };
    }
    case 'bearer': {
      const header = `Bearer ${nonEmpty(auth.token, 'clientAuth.token')}`;
      return async (_form, headers) => {
        headers['authorization'] = header;
      };
    }
    default:
      throw bad(
        `clientAuth.method ${JSON.stringify((auth as { method?: unknown }).method)} is not supported`,
      );
  }
}

// RFC 6749 §2.3.1 / Appendix B: id and secret are form-urlencoded before the Basic encoding.
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}

function isJwk(key: object): key is JWK {
  return typeof (key as { kty?: unknown }).kty === 'string';
}
