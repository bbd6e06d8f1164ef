/**
 * Password hashing with scrypt from `node:crypto`, parameters stored beside each hash so they can
 * be raised later without invalidating existing passwords.
 *
 * Encoded form: `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>`.
 *
 * @packageDocumentation
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { AuthBridgeError } from '../errors.js';

/** scrypt cost parameters. */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  readonly logN: number;
  /** Block size r. */
  readonly r: number;
  /** Parallelism p. */
  readonly p: number;
}

/**
 * Defaults: N = 2^15, r = 8, p = 1 (32 MiB, tens of milliseconds), above Django's N = 2^14 and the
 * OWASP minimum for scrypt. Raise `logN` where hardware allows; old hashes are upgraded at login.
 */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = Object.freeze({ logN: 15, r: 8, p: 1 });

const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
// Bounds for parameters read back from storage: a tampered row must not make us allocate gigabytes.
const MAX_LOG_N = 20;
const MAX_R = 32;
const MAX_P = 16;
// scrypt needs 128·N·r bytes: each bound above allows 4 GiB together, so the product is bounded too
// (1 GiB: N = 2^20 with r = 8, twice the strongest settings in common use).
const MAX_MEMORY_BYTES = 2 ** 30;

/**
 * Validates scrypt parameters.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID when a value is out of range.
 */
export function validateScryptParams(params: ScryptParams): ScryptParams {
  const { logN, r, p } = params;
  if (!Number.isInteger(logN) || logN < 1 || logN > MAX_LOG_N) {
    throw new AuthBridgeError(
      'CONFIG_INVALID',
      `scrypt logN must be an integer in 1..${MAX_LOG_N}`,
    );
  }
  if (!Number.isInteger(r) || r < 1 || r > MAX_R)
    throw new AuthBridgeError('CONFIG_INVALID', `scrypt r must be in 1..${MAX_R}`);
  if (!Number.isInteger(p) || p < 1 || p > MAX_P)
    throw new AuthBridgeError('CONFIG_INVALID', `scrypt p must be in 1..${MAX_P}`);
  if (128 * 2 ** logN * r > MAX_MEMORY_BYTES)
    throw new AuthBridgeError('CONFIG_INVALID', 'scrypt N·r needs more than 1 GiB per hash');
  return Object.freeze({ logN, r, p });
}

/** Hashes `password` with a fresh random salt. */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<string> {
  const valid = validateScryptParams(params);
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, valid);
  return [
    'scrypt',
    valid.logN,
    valid.r,
    valid.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

/**
 * Checks `password` against an encoded hash in constant time. A malformed hash is false, never an
 * exception: a corrupt row must look like a wrong password, not crash the login.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parseHash(encoded);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed.params);
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}

/** Whether `encoded` was made with other parameters than `params` (then rehash after a login). */
export function needsRehash(
  encoded: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): boolean {
  const parsed = parseHash(encoded);
  return (
    !parsed ||
    parsed.params.logN !== params.logN ||
    parsed.params.r !== params.r ||
    parsed.params.p !== params.p
  );
}

/**
 * The parameters of an extra check that makes a failed check of `encoded` cost about what a check
 * at `params` costs, or undefined when it costs that already — a `harden_runtime` for scrypt. A
 * malformed hash costs nothing to check, so its extra check is at `params` themselves. Without it
 * a wrong password for an old, cheaper hash answers faster than one for an unknown user (checked
 * at `params`), telling who exists; with a whole extra check it answers slower, telling the same.
 *
 * The extra check keeps the current N, whose memory (128·N·r bytes) decides how fast scrypt runs
 * per unit of work: the work left over (N·r·p) is made up with r and p, to within 1/r of it. A
 * smaller N would match the arithmetic and still run faster, staying in the CPU caches. (Django's
 * own scrypt hasher does nothing here.)
 */
export function hardeningParams(
  encoded: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): ScryptParams | undefined {
  const parsed = parseHash(encoded);
  const missing = work(params) - (parsed === undefined ? 0 : work(parsed.params));
  if (missing <= 0) return undefined;
  if (parsed === undefined) return params;
  const n = 2 ** params.logN;
  // As few passes (p) as will do with blocks no larger than the current ones (r), then the block
  // size that makes up the rest: memory never above the current parameters'.
  const p = Math.ceil(missing / (n * params.r));
  const r = Math.min(params.r, Math.max(1, Math.round(missing / (n * p))));
  return { logN: params.logN, r, p };
}

/**
 * The hashing a `LocalPasswordBackend` does. An option so that the work can be observed (counted,
 * timed, traced); a replacement must keep the encoded scrypt form, which the rehash and timing
 * decisions read.
 */
export interface PasswordHasher {
  readonly hash: (password: string, params: ScryptParams) => Promise<string>;
  readonly verify: (password: string, encoded: string) => Promise<boolean>;
}

/** The default {@link PasswordHasher}: {@link hashPassword} and {@link verifyPassword}. */
export const scryptHasher: PasswordHasher = Object.freeze({
  hash: hashPassword,
  verify: verifyPassword,
});

// scrypt's running time grows with N·r·p (memory with N·r); only the order matters here.
function work(params: ScryptParams): number {
  return 2 ** params.logN * params.r * params.p;
}

interface ParsedHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly key: Buffer;
}

function parseHash(encoded: string): ParsedHash | undefined {
  const parts = typeof encoded === 'string' ? encoded.split('$') : [];
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, logN, r, p, salt, key] = parts as [string, string, string, string, string, string];
  const digits = /^[0-9]{1,3}$/;
  if (!digits.test(logN) || !digits.test(r) || !digits.test(p)) return undefined;
  try {
    const params = validateScryptParams({ logN: Number(logN), r: Number(r), p: Number(p) });
    const keyBytes = Buffer.from(key, 'base64url');
    if (keyBytes.length !== KEY_LENGTH) return undefined;
    return { params, salt: Buffer.from(salt, 'base64url'), key: keyBytes };
  } catch {
    return undefined;
  }
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.logN;
  // Node's default maxmem (32 MiB) is exactly the need at N = 2^15, r = 8; leave headroom.
  const maxmem = 256 * N * params.r * params.p;
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFKC'),
      salt,
      KEY_LENGTH,
      { N, r: params.r, p: params.p, maxmem },
      (error, key) => {
        if (error)
          reject(
            new AuthBridgeError('INTERNAL', undefined, { detail: 'scrypt failed', cause: error }),
          );
        else resolve(key);
      },
    );
  });
}
