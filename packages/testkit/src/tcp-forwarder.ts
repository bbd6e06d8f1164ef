import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';

/** A TCP port on 127.0.0.1 whose connections are relayed to another address. */
export interface TcpForwarder {
  /** The local port (on 127.0.0.1), picked by the kernel. */
  readonly port: number;
  /** Stops listening and destroys every relayed connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * Relays TCP connections from a fresh port on 127.0.0.1 to `host:port`, byte for byte (TLS
 * passes through untouched, so LDAPS and StartTLS work end to end).
 *
 * It runs in this process, which is why it needs no extra package or process and dies with
 * the test process. Two behaviours differ from a direct connection, both only while the target
 * is down: the local connect succeeds, and the connection is then reset (ECONNRESET) instead of
 * being refused (ECONNREFUSED); a stopped (SIGSTOPped) target still completes TCP handshakes,
 * exactly as it would directly.
 */
export function startTcpForwarder(host: string, port: number): Promise<TcpForwarder> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    track(client);
    client.setNoDelay(true);
    const upstream = connect({ host, port });
    track(upstream);
    upstream.setNoDelay(true);
    // A target that refuses or drops the connection resets the client's, as close as a relay
    // gets to the client seeing the failure itself.
    upstream.on('error', () => {
      if (!client.destroyed) client.resetAndDestroy();
    });
    client.on('error', () => {
      upstream.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('startTcpForwarder: listening socket has no TCP address'));
        return;
      }
      let closing: Promise<void> | undefined;
      resolve({
        port: address.port,
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => {
              done();
            });
            for (const socket of sockets) socket.destroy();
          });
          return closing;
        },
      });
    });
  });
}
