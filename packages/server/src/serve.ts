/**
 * Listening and graceful shutdown for the host.
 *
 * @packageDocumentation
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostApp } from './create-app.js';

/** A listening host. */
export interface RunningHost {
  readonly server: Server;
  /** `http://host:port` actually bound (port 0 resolved). */
  readonly url: string;
  /**
   * Stops accepting connections, lets in-flight requests finish (up to `timeoutMs`, then cuts the
   * rest), then closes the app's backends and stores. Idempotent.
   */
  shutdown(timeoutMs: number): Promise<void>;
}

/** Starts listening on `host:port`. */
export async function listen(app: HostApp, host: string, port: number): Promise<RunningHost> {
  const handle = app.callback();
  let draining = false;
  const server = createServer((req, res) => {
    // Draining: this answer ends its connection, so a keep-alive client (a browser, a proxy's
    // pool) cannot keep the old process serving, nor hold the drain until the timeout.
    if (draining) res.setHeader('Connection', 'close');
    void handle(req, res);
  });
  // Slowloris bounds: a client gets a fixed time to send its headers and body.
  server.headersTimeout = 15_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let stopping: Promise<void> | undefined;
  return {
    server,
    url: `http://${shownHost}:${address.port}`,
    shutdown: (timeoutMs) =>
      (stopping ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        });
        server.closeIdleConnections();
        // A request already in flight is answered keep-alive (it came before the drain): its
        // connection turns idle after the answer and is closed then (Node has no event for that).
        const sweep = setInterval(() => {
          server.closeIdleConnections();
        }, 50);
        const timer = setTimeout(() => {
          server.closeAllConnections();
        }, timeoutMs);
        try {
          await closed;
        } finally {
          clearInterval(sweep);
          clearTimeout(timer);
        }
        await app.close();
      })()),
  };
}
