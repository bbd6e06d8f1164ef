// DEMO ONLY, never for production: an in-process SAML IdP for `npm start`. It shows a login form
// for two demo people and posts a signed response to the SP's ACS. It reuses the SAML package's
// test IdP (keys generated at start) and is not part of any package.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import { TestIdp } from '../packages/saml/test/support/test-idp.ts';

/** A demo person. */
interface DemoPerson {
  readonly password: string;
  readonly email: string;
  readonly displayName: string;
  readonly groups: readonly string[];
}

/** The running demo IdP. */
export interface DemoSamlIdp {
  readonly entityId: string;
  readonly ssoUrl: string;
  readonly certPem: string;
  readonly people: Readonly<Record<string, DemoPerson>>;
  close(): Promise<void>;
}

const PEOPLE: Readonly<Record<string, DemoPerson>> = {
  sam: {
    password: 'sam-password',
    email: 'sam@example.org',
    displayName: 'Sam Saml',
    groups: ['saml-users', 'finance'],
  },
  erin: {
    password: 'erin-password',
    email: 'erin@example.org',
    displayName: 'Erin Example',
    groups: ['saml-users'],
  },
};

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function readBody(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
      if (body.length > 64 * 1024) req.destroy();
    });
    req.on('end', () => {
      resolve(new URLSearchParams(body));
    });
  });
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><main>
<p><strong>Demo SAML identity provider</strong> (for the authbridge demo only)</p>${body}</main></body></html>`;
}

/** Starts the demo IdP for an SP with this entity ID and ACS URL. */
export async function startDemoSamlIdp(sp: {
  entityId: string;
  acsUrl: string;
}): Promise<DemoSamlIdp> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const idp = new TestIdp({ entityId: `${base}/metadata`, sp });

  server.on('request', (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', base);
      if (req.method === 'GET' && url.pathname === '/sso') {
        // HTTP-Redirect binding: base64 of raw-deflated XML. Only the request ID is read.
        const encoded = url.searchParams.get('SAMLRequest') ?? '';
        let requestId: string;
        try {
          const xml = inflateRawSync(Buffer.from(encoded, 'base64'), {
            maxOutputLength: 64 * 1024,
          }).toString('utf8');
          requestId = /\sID="([A-Za-z_][\w.-]*)"/.exec(xml)?.[1] ?? '';
        } catch {
          requestId = '';
        }
        if (requestId === '') {
          res.writeHead(400, { 'content-type': 'text/plain' }).end('not a SAML AuthnRequest');
          return;
        }
        const relay = url.searchParams.get('RelayState') ?? '';
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
          page(
            'Demo IdP sign in',
            `<form method="post" action="/sso">
<input type="hidden" name="requestId" value="${escape(requestId)}"><input type="hidden" name="relayState" value="${escape(relay)}">
<label for="idp-username">Username</label> <input id="idp-username" name="username" autocomplete="username">
<label for="idp-password">Password</label> <input id="idp-password" name="password" type="password">
<button type="submit">Sign in at the IdP</button></form>`,
          ),
        );
        return;
      }
      if (req.method === 'POST' && url.pathname === '/sso') {
        const form = await readBody(req);
        const username = form.get('username') ?? '';
        const person: DemoPerson | undefined = PEOPLE[username];
        const given = Buffer.from(form.get('password') ?? '');
        const ok =
          person !== undefined &&
          given.length === person.password.length &&
          timingSafeEqual(given, Buffer.from(person.password));
        if (!ok) {
          res
            .writeHead(401, { 'content-type': 'text/html; charset=utf-8' })
            .end(page('Demo IdP', '<p role="alert">Wrong username or password.</p>'));
          return;
        }
        const issued = idp.respond({
          inResponseTo: form.get('requestId') ?? undefined,
          nameId: username,
          attributes: [
            { name: 'urn:oid:0.9.2342.19200300.100.1.1', friendlyName: 'uid', values: [username] },
            {
              name: 'urn:oid:0.9.2342.19200300.100.1.3',
              friendlyName: 'mail',
              values: [person.email],
            },
            {
              name: 'urn:oid:2.16.840.1.113730.3.1.241',
              friendlyName: 'displayName',
              values: [person.displayName],
            },
            { name: 'groups', values: [...person.groups] },
          ],
        });
        const relay = form.get('relayState') ?? '';
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
          page(
            'Demo IdP',
            `<form method="post" action="${escape(sp.acsUrl)}">
<input type="hidden" name="SAMLResponse" value="${escape(issued.samlResponse)}">${relay ? `<input type="hidden" name="RelayState" value="${escape(relay)}">` : ''}
<p>Signed in at the demo IdP as ${escape(username)}.</p><button type="submit">Continue to the application</button></form>`,
          ),
        );
        return;
      }
      res.writeHead(404).end();
    })();
  });

  return {
    entityId: idp.entityId,
    ssoUrl: `${base}/sso`,
    certPem: idp.keys.certPem,
    people: PEOPLE,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}
