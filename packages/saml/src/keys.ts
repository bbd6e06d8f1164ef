/**
 * Certificates and keys from configuration: PEM or bare base64, checked once at construction.
 *
 * @packageDocumentation
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { AuthBridgeError } from '@authbridge/core';

/** Smallest RSA modulus accepted for signatures, ours or an IdP's. */
export const MIN_RSA_BITS = 2048;

function wrap(base64: string): string {
  const body = base64.replace(/\s+/g, '');
  return `-----BEGIN CERTIFICATE-----\n${body.replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END CERTIFICATE-----\n`;
}

/**
 * Normalises a certificate (PEM or base64 DER) or a PEM public key to PEM, refusing anything that
 * does not parse or is an RSA key under {@link MIN_RSA_BITS} bits.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID
 */
export function normalizePublicPem(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new AuthBridgeError('CONFIG_INVALID', `${where} must be a PEM or base64 certificate`);
  }
  const pem = value.includes('-----BEGIN') ? value.trim() + '\n' : wrap(value);
  try {
    const key = pem.includes('PUBLIC KEY')
      ? createPublicKey(pem)
      : new X509Certificate(pem).publicKey;
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (key.asymmetricKeyType === 'rsa' && (bits === undefined || bits < MIN_RSA_BITS)) {
      throw new Error(`RSA key of ${String(bits)} bits`);
    }
  } catch (cause) {
    throw new AuthBridgeError('CONFIG_INVALID', `${where} is not a usable certificate`, { cause });
  }
  return pem;
}

/**
 * Checks a PEM private key.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID
 */
export function checkPrivatePem(value: unknown, where: string): string {
  if (typeof value !== 'string')
    throw new AuthBridgeError('CONFIG_INVALID', `${where} must be PEM`);
  try {
    createPrivateKey(value);
  } catch (cause) {
    throw new AuthBridgeError('CONFIG_INVALID', `${where} is not a usable private key`, { cause });
  }
  return value;
}
