// DEMO ONLY, never for production: an in-process RFC 7662 introspection endpoint that vouches for
// one random bearer token, so `npm start` can show a token login. Not part of any package.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The running demo token service. */
export interface DemoTokenService {
  readonly introspectionUrl: string;
  readonly issuer: string;
  readonly audience: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The one token it says is active. */
  readonly token: string;
  close(): Promise<void>;
}

/** Starts the demo token service on 127.0.0.1 (a free port). */
export async function startDemoTokenService(): Promise<DemoTokenService> {
  const clientId = 'authbridge-demo';
  const clientSecret = randomBytes(24).toString('base64url');
  const token = `demo.${randomBytes(24).toString('base64url')}`;
  const issuer = 'https://demo-token-service.invalid';
  const audience = 'authbridge-demo';
  const expected = Buffer.from(
    `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
  );

  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      const given = Buffer.from(req.headers.authorization ?? '');
      if (req.method !== 'POST' || req.url !== '/introspect') {
        res.writeHead(404).end();
        return;
      }
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="demo"' }).end();
        return;
      }
      const presented = new URLSearchParams(body).get('token') ?? '';
      const now = Math.floor(Date.now() / 1000);
      const answer =
        presented === token
          ? {
              active: true,
              sub: 'demo-service',
              username: 'demo-service',
              client_id: clientId,
              scope: 'read',
              aud: audience,
              iss: issuer,
              iat: now,
              exp: now + 3600,
            }
          : { active: false };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    introspectionUrl: `http://127.0.0.1:${port}/introspect`,
    issuer,
    audience,
    clientId,
    clientSecret,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}
