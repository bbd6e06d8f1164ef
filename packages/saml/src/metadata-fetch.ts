/**
 * Fetching metadata by URL without becoming an SSRF proxy: https only (unless allowed), no
 * private, loopback or link-local address (checked on the address actually connected to, so DNS
 * rebinding cannot slip one in), no redirects, a size limit and a timeout.
 *
 * @packageDocumentation
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { AuthBridgeError } from '@authbridge/core';

/** Options for {@link fetchMetadata}. */
export interface MetadataFetchOptions {
  /** Allow `http:` URLs. Default false. */
  readonly allowHttp?: boolean;
  /** Allow private, loopback and link-local addresses. Default false. */
  readonly allowPrivateAddresses?: boolean;
  /** Largest document accepted, in bytes. Default 1 MiB. */
  readonly maxBytes?: number;
  /** Deadline for the whole fetch. Default 10 s. */
  readonly timeoutMs?: number;
  /** Extra trusted CA certificates (PEM) for https. Default the system's. */
  readonly ca?: string | readonly string[];
}

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  // RFC 8215 local-use NAT64: it reaches IPv4 networks of the operator's choosing.
  ['64:ff9b:1::', 48],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv6');
}

const NAT64 = new BlockList();
NAT64.addSubnet('64:ff9b::', 96, 'ipv6');

/** Whether `address` is private, loopback, link-local, multicast or unspecified. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return PRIVATE.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return PRIVATE.check(mapped[1], 'ipv4');
  // NAT64 (RFC 6052, 64:ff9b::/96) reaches the IPv4 address in its last 32 bits: judge that one.
  const nat64 = embeddedNat64(address);
  if (nat64 !== undefined) return PRIVATE.check(nat64, 'ipv4');
  return PRIVATE.check(address, 'ipv6');
}

function embeddedNat64(address: string): string | undefined {
  if (!NAT64.check(address, 'ipv6')) return undefined;
  // The URL parser writes the address in its one canonical form: 64:ff9b::a00:1 and the like.
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const groups = canonical.split(':');
  const high = Number.parseInt(groups.at(-2) ?? '0', 16) || 0;
  const low = Number.parseInt(groups.at(-1) ?? '0', 16) || 0;
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

function refused(message: string): AuthBridgeError {
  return new AuthBridgeError('CONFIG_INVALID', message);
}

const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) {
      callback(error, '', 0);
      return;
    }
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    if (bad !== undefined) {
      callback(new Error(`metadata host resolves to a private address ${bad.address}`), '', 0);
      return;
    }
    if (options.all === true) callback(null, addresses, 0);
    else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4);
  });
};

/**
 * Fetches a metadata document.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID for a URL the policy refuses; BACKEND_TIMEOUT or
 *   BACKEND_UNAVAILABLE when the fetch fails, redirects, or is too large
 */
export function fetchMetadata(url: string, options: MetadataFetchOptions = {}): Promise<string> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw refused('metadata URL is not a URL');
  }
  if (
    target.protocol !== 'https:' &&
    !(target.protocol === 'http:' && options.allowHttp === true)
  ) {
    throw refused(`metadata URL scheme ${target.protocol} is not allowed`);
  }
  const allowPrivate = options.allowPrivateAddresses === true;
  const host = target.hostname.replace(/^\[|\]$/g, '');
  if (!allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) {
    throw refused('metadata URL names a private address');
  }
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'GET',
        headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' },
        signal: AbortSignal.timeout(timeoutMs),
        ...(allowPrivate ? {} : { lookup: guardedLookup }),
        ...(options.ca === undefined ? {} : { ca: options.ca as string | string[] }),
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(
            new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
              detail: `metadata fetch: HTTP ${String(res.statusCode)} (redirects are not followed)`,
            }),
          );
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            req.destroy();
            reject(
              new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
                detail: `metadata larger than ${maxBytes} bytes`,
              }),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          resolve(Buffer.concat(chunks).toString('utf8'));
        });
        res.on('error', (cause) => {
          reject(
            new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
              detail: 'metadata fetch failed',
              cause,
            }),
          );
        });
      },
    );
    req.on('error', (cause: Error) => {
      const timedOut = cause.name === 'AbortError' || cause.name === 'TimeoutError';
      reject(
        new AuthBridgeError(timedOut ? 'BACKEND_TIMEOUT' : 'BACKEND_UNAVAILABLE', undefined, {
          detail: `metadata fetch failed: ${cause.message}`,
          cause,
        }),
      );
    });
    req.end();
  });
}
