// A loopback URL nothing listens on: a port the kernel handed out a moment ago and took back.
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

export async function closedPortUrl(path = '/'): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return `http://127.0.0.1:${port}${path}`;
}
