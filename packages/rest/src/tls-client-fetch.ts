/**
 * A `fetch` that presents a TLS client certificate: the transport for RFC 8705 `tls_client_auth`
 * (mutual-TLS client authentication) to an authorization server, built on `node:https` so no
 * extra dependency is needed.
 *
 * @packageDocumentation
 */
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { FetchLike } from './upstream-client.js';

/** The client side of a mutual-TLS connection. PEM strings or buffers. */
export interface TlsClientOptions {
  /** The client certificate (chain) to present. */
  readonly cert: string | Buffer;
  /** Its private key. */
  readonly key: string | Buffer;
  /** Passphrase of an encrypted `key`. */
  readonly passphrase?: string;
  /**
   * CAs trusted for the server's certificate. Default: Node's bundled roots. Pin the
   * authorization server's CA here rather than widening trust for the whole process.
   */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Server name for SNI and certificate checks, when it differs from the URL's host. */
  readonly servername?: string;
}

/** A {@link FetchLike} with its own connection pool, which `close` destroys. */
export type TlsClientFetch = FetchLike & { close(): void };

/**
 * Makes a fetch that connects with `options`' certificate over a keep-alive pool of its own. It
 * implements what the backend needs (method, headers, string body, abort signal), only for
 * `https:` URLs, and never follows redirects.
 *
 * @example
 * ```ts
 * const fetch = createTlsClientFetch({ cert: clientPem, key: keyPem, ca: asCaPem });
 * ```
 */
export function createTlsClientFetch(options: TlsClientOptions): TlsClientFetch {
  const agent = new Agent({
    keepAlive: true,
    cert: options.cert,
    key: options.key,
    passphrase: options.passphrase,
    ca: options.ca as string | Buffer | (string | Buffer)[] | undefined,
    servername: options.servername,
  });
  const tlsFetch = (input: string | URL, init: RequestInit): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input);
      if (url.protocol !== 'https:') {
        reject(new TypeError('a TLS client fetch only speaks https'));
        return;
      }
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, name) => {
        headers[name] = value;
      });
      const req = httpsRequest(
        url,
        { method: init.method ?? 'GET', headers, agent, signal: init.signal ?? undefined },
        (res) => {
          // The body stays a stream, as fetch's does: the caller counts it and stops reading at
          // its size cap (buffering it all here first would undo that cap).
          const status = res.statusCode ?? 502;
          const nullBody = status === 204 || status === 205 || status === 304;
          if (nullBody) res.resume();
          try {
            resolve(
              new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
                status,
                headers: toHeaders(res.headers),
              }),
            );
          } catch (error) {
            res.destroy();
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
      );
      req.on('error', reject);
      const body = init.body;
      if (body === undefined || body === null) req.end();
      else if (typeof body === 'string') req.end(body);
      else {
        req.destroy();
        reject(new TypeError('a TLS client fetch only sends string bodies'));
      }
    });
  return Object.assign(tlsFetch, {
    close: () => {
      agent.destroy();
    },
  });
}

function toHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}
