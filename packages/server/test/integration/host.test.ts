// The reference host over HTTP (supertest on the unlistened app) and its CLI as a child process.
import { createApp, type HostApp, listen, parseConfig } from '@authbridge/server';
import { expectRejection } from '@authbridge/conformance';
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { DatabaseSync } from 'node:sqlite';
import { pino } from 'pino';
import request from 'supertest';
import { generateTestKeyPair } from '@authbridge/testkit';

const SECRET = 'a-host-test-secret-of-at-least-32-chars';
const cli = fileURLToPath(new URL('../../bin/authbridge.js', import.meta.url));

function config(dir: string) {
  return parseConfig(
    {
      server: { secret: SECRET },
      stores: { kind: 'sqlite', path: join(dir, 'host.db') },
      backends: [
        {
          type: 'local',
          groupPermissions: { ops: ['hosts.restart'] },
          users: [
            {
              username: 'admin',
              password: 'break-glass-password',
              isSuperuser: true,
              isStaff: true,
            },
            { username: 'olga', password: 'olga-password-123', groups: ['ops'] },
          ],
        },
      ],
      logging: { level: 'silent' },
    },
    {},
  );
}

async function csrfFrom(agent: request.Agent, path = '/login'): Promise<string> {
  const page = await agent.get(path).expect(200);
  const match = /name="_csrf" value="([^"]+)"/.exec(page.text);
  expect(match, 'csrf field').to.not.equal(null);
  return match![1]!;
}

/**
 * Logs in through the form on `agent`: fetches the form's CSRF token, posts the credentials and
 * checks the status (303 in; refused, 200 with the form again and no challenge-less 401).
 */
async function formLogin(
  agent: request.Agent,
  username: string,
  password: string,
  status: 303 | 200,
  headers: Record<string, string> = {},
): Promise<request.Response> {
  const token = await csrfFrom(agent);
  return agent
    .post('/login')
    .set(headers)
    .type('form')
    .send({ username, password, _csrf: token })
    .expect(status);
}

describe('reference host over HTTP', function () {
  let dir: string;
  let app: HostApp;
  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), 'authbridge-host-'));
    app = await createApp(config(dir), { logger: pino({ level: 'silent' }) });
  });
  afterEach(async function () {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves an accessible login form that works without JavaScript', async function () {
    const res = await request(app.callback())
      .get('/login')
      .expect(200)
      .expect('content-type', /html/);
    expect(res.text).to.include('<form method="post" action="/login">');
    expect(res.text).to.include('<label for="username">').and.include('<label for="password">');
    expect(res.text).to.include('autocomplete="current-password"');
    expect(res.text).to.not.include('<script');
    expect(res.headers['content-security-policy']).to.include("frame-ancestors 'none'");
    expect(res.headers['content-security-policy']).to.include("form-action 'self'");
    expect(res.headers['x-content-type-options']).to.equal('nosniff');
    expect(res.headers['cache-control']).to.equal('no-store');
    expect(res.headers['x-frame-options']).to.equal('DENY');
    expect(res.headers['referrer-policy']).to.equal('same-origin');
    expect(res.headers['cross-origin-opener-policy']).to.equal('same-origin');
  });

  it('shows the login page without storing anything: the CSRF secret is in a cookie', async function () {
    const sessionRows = (): number => {
      const db = new DatabaseSync(join(dir, 'host.db'), { readOnly: true });
      try {
        const row = db.prepare("SELECT count(*) AS n FROM kv WHERE key LIKE 'session:%'").get();
        return (row as { n: number }).n;
      } finally {
        db.close();
      }
    };
    const server = app.callback();
    for (let i = 0; i < 3; i++) {
      const page = await request(server).get('/login').expect(200);
      const cookies = ([] as string[]).concat(page.headers['set-cookie'] ?? []);
      expect(cookies.map((c) => c.split('=')[0])).to.deep.equal(['authbridge.csrf']);
    }
    expect(sessionRows(), 'after three login page views').to.equal(0);
    await formLogin(request.agent(server), 'olga', 'olga-password-123', 303);
    expect(sessionRows(), 'after a login').to.equal(1);
  });

  it('sends JSON responses, errors included, with the API security headers', async function () {
    const server = app.callback();
    for (const res of [
      await request(server).get('/healthz').expect(200),
      await request(server).get('/api/me').expect(401),
      await request(server).get('/nowhere').expect(404),
    ]) {
      expect(res.headers['x-content-type-options']).to.equal('nosniff');
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.headers['content-security-policy']).to.equal(
        "default-src 'none'; frame-ancestors 'none'",
      );
      expect(res.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
      // Document-only headers stay off data responses.
      expect(res.headers['referrer-policy']).to.equal(undefined);
    }
  });

  it('answers unrouted paths and methods with the JSON error shape', async function () {
    const server = app.callback();
    const missing = await request(server).get('/nowhere').expect(404);
    expect(missing.body).to.deep.equal({ code: 'NOT_FOUND', message: 'Not found' });
    const method = await request(server).delete('/api/me').expect(405);
    expect(method.body).to.deep.equal({ code: 'INVALID_REQUEST', message: 'Method not allowed' });
    expect(method.headers['allow']).to.include('GET');
    // A method no route knows (WebDAV's PROPFIND): 501, in the same JSON shape.
    const unknown = await request(server)
      .propfind('/login')
      .expect(501)
      .expect('content-type', /json/);
    expect(unknown.body).to.deep.equal({ code: 'INVALID_REQUEST', message: 'Not implemented' });
  });

  it('logs in with the form, shows the user at /api/me, logs out', async function () {
    const agent = request.agent(app.callback());
    const login = await formLogin(agent, 'olga', 'olga-password-123', 303);
    expect(login.headers['location']).to.equal('/');
    const me = await agent.get('/api/me').expect(200);
    expect(me.body).to.include({ username: 'olga', backend: 'local', via: 'session' });
    expect((me.body as { permissions: string[] }).permissions).to.deep.equal(['hosts.restart']);
    expect((me.body as { groups: string[] }).groups).to.deep.equal(['ops']);
    const logoutToken = await csrfFrom(agent, '/');
    await agent
      .post('/logout')
      .type('form')
      .send({ _csrf: logoutToken })
      .expect(303)
      .expect('location', '/login');
    // RFC 9110: every 401 names a scheme; /api/me takes bearer tokens, so it names Bearer.
    await agent.get('/api/me').expect(401).expect('www-authenticate', 'Bearer realm="authbridge"');
  });

  it("session fixation: a planted session id never becomes the victim's session", async function () {
    const server = app.callback();
    const sidOf = (res: request.Response): string | undefined =>
      ([] as string[])
        .concat(res.headers['set-cookie'] ?? [])
        .find((c) => c.startsWith('authbridge.sid='))
        ?.split(';')[0]
        ?.slice('authbridge.sid='.length);
    // Planted ids: the attacker's own logged-in session, and one made up.
    const planted = sidOf(
      await formLogin(request.agent(server), 'olga', 'olga-password-123', 303),
    )!;
    expect(planted).to.be.a('string');
    for (const fixed of [planted, 'A'.repeat(43)]) {
      const cookie = `authbridge.sid=${fixed}`;
      const page = await request(server).get('/login').set('Cookie', cookie).expect(200);
      const csrfToken = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
      const csrfCookie = ([] as string[])
        .concat(page.headers['set-cookie'] ?? [])
        .map((c) => c.split(';')[0]!)
        .join('; ');
      const login = await request(server)
        .post('/login')
        .set('Cookie', [cookie, csrfCookie].filter(Boolean).join('; '))
        .type('form')
        .send({ username: 'admin', password: 'break-glass-password', _csrf: csrfToken })
        .expect(303);
      const victim = sidOf(login);
      expect(victim, 'a new id at login').to.be.a('string').and.not.equal(fixed);
      const me = await request(server)
        .get('/api/me')
        .set('Cookie', `authbridge.sid=${victim!}`)
        .expect(200);
      expect(me.body).to.include({ username: 'admin', via: 'session' });
      // The planted id is nobody's: the other user's session was flushed, not taken over.
      await request(server).get('/api/me').set('Cookie', cookie).expect(401);
    }
  });

  it('a deleted user is anonymous on the next request', async function () {
    const agent = request.agent(app.callback());
    await formLogin(agent, 'olga', 'olga-password-123', 303);
    await agent.get('/api/me').expect(200);
    const olga = await app.userStore.getByUsername('olga');
    expect(await app.userStore.delete(olga!.id)).to.equal(true);
    await agent.get('/api/me').expect(401).expect('www-authenticate', 'Bearer realm="authbridge"');
  });

  it('creates a configured user under its NFKC-normalized name, once across restarts', async function () {
    const own = mkdtempSync(join(tmpdir(), 'authbridge-nfkc-'));
    const fullwidth = parseConfig(
      {
        server: { secret: SECRET },
        stores: { kind: 'sqlite', path: join(own, 'host.db') },
        backends: [
          {
            type: 'local',
            users: [{ username: '\uFF4F\uFF50\uFF53', password: 'ops-password-123' }], // ｏｐｓ
          },
        ],
        logging: { level: 'silent' },
      },
      {},
    );
    try {
      // The second start finds the account the first one made instead of creating it again.
      for (let start = 0; start < 2; start++) {
        const host = await createApp(fullwidth, { logger: pino({ level: 'silent' }) });
        try {
          await formLogin(request.agent(host.callback()), 'ops', 'ops-password-123', 303);
        } finally {
          await host.close();
        }
      }
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('shows one generic error for a wrong password and an unknown user', async function () {
    const texts: string[] = [];
    for (const username of ['olga', 'nobody']) {
      const agent = request.agent(app.callback());
      const token = await csrfFrom(agent);
      const res = await agent
        .post('/login')
        .type('form')
        .send({ username, password: 'wrong-password', _csrf: token })
        // The form again, as Django: a 401 would have to name an HTTP scheme, and a form is none.
        .expect(200);
      texts.push(/<p class="error"[^>]*>([^<]*)<\/p>/.exec(res.text)?.[1] ?? '');
    }
    expect(texts[0]).to.equal('The username or password is not correct.');
    expect(texts[1]).to.equal(texts[0]);
  });

  it('refuses a login without the CSRF token', async function () {
    const res = await request(app.callback())
      .post('/login')
      .type('form')
      .send({ username: 'olga', password: 'olga-password-123' })
      .expect(403);
    expect((res.body as { code: string }).code).to.equal('CSRF_FAILED');
  });

  it('takes forms from its own origin and its publicUrl, and refuses them from another', async function () {
    // Behind a proxy that passes its own Host on (or ends TLS without trustProxy), the browser's
    // Origin is the public URL, not what the host sees: publicUrl says it is ours.
    const lines: string[] = [];
    const behind = await createApp(
      parseConfig(
        {
          server: { secret: SECRET, publicUrl: 'https://auth.example.test' },
          stores: { kind: 'memory' },
          backends: [
            { type: 'local', users: [{ username: 'olga', password: 'olga-password-123' }] },
          ],
        },
        {},
      ),
      { logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) },
    );
    try {
      const server = behind.callback();
      await formLogin(request.agent(server), 'olga', 'olga-password-123', 303, {
        Origin: 'https://auth.example.test',
      });
      const agent = request.agent(server);
      const token = await csrfFrom(agent);
      const res = await agent
        .post('/login')
        .set('Origin', 'https://evil.example.test')
        .type('form')
        .send({ username: 'olga', password: 'olga-password-123', _csrf: token })
        .expect(403);
      expect((res.body as { code: string }).code).to.equal('CSRF_FAILED');
      // The client learns nothing more; the log says which origins met.
      expect(JSON.stringify(res.body)).not.to.include('evil');
      const warned = lines.find((l) => l.includes('csrf check failed'));
      expect(warned).to.include('https://evil.example.test');
    } finally {
      await behind.close();
    }
  });

  it('redirects after login only to same-origin paths', async function () {
    for (const [next, expected] of [
      ['/api/me', '/api/me'],
      ['//evil.example/x', '/'],
      ['https://evil.example', '/'],
      ['/\\evil.example', '/'],
    ] as const) {
      const agent = request.agent(app.callback());
      const token = await csrfFrom(agent);
      await agent
        .post('/login')
        .type('form')
        .send({ username: 'olga', password: 'olga-password-123', _csrf: token, next })
        .expect(303)
        .expect('location', expected);
    }
  });

  it('answers bearer requests statelessly with an RFC 6750 challenge', async function () {
    const res = await request(app.callback())
      .get('/api/me')
      .set('Authorization', 'Bearer not-a-valid-token')
      .expect(401);
    expect(res.headers['www-authenticate']).to.equal(
      'Bearer realm="authbridge", error="invalid_token"',
    );
    expect(res.headers['set-cookie']).to.equal(undefined);
  });

  it('reports health, readiness and Prometheus metrics', async function () {
    const server = app.callback();
    await request(server).get('/healthz').expect(200, { status: 'ok' });
    const ready = await request(server).get('/readyz').expect(200);
    expect(ready.body).to.deep.equal({
      status: 'ready',
      checks: { 'backend:local': 'ok', 'store:kv': 'ok', 'store:users': 'ok' },
    });
    await formLogin(request.agent(server), 'admin', 'break-glass-password', 303);
    await formLogin(request.agent(server), 'admin', 'wrong-password', 200);
    await request(server).get('/api/me').set('Authorization', 'Bearer not-a-token').expect(401);
    const metrics = await request(server).get('/metrics').expect(200);
    expect(metrics.text).to.include('authbridge_logins_total{backend="local",outcome="success"} 1');
    // The wrong password counts; the bearer token, not a login, does not.
    expect(metrics.text).to.include('authbridge_logins_total{backend="none",outcome="failure"} 1');
    expect(metrics.text).to.include('authbridge_login_duration_seconds_bucket');
    // Request latency by matched route pattern and status.
    expect(metrics.text).to.include(
      'authbridge_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 1',
    );
    expect(metrics.text).to.include(
      'authbridge_http_request_duration_seconds_count{method="GET",route="/api/me",status="401"} 1',
    );
  });

  it('warns at start-up when an https publicUrl meets trustProxy off (no Secure cookies, no HSTS)', async function () {
    for (const trustProxy of [false, 1]) {
      const lines: string[] = [];
      const app = await createApp(
        parseConfig(
          {
            server: { secret: SECRET, publicUrl: 'https://auth.example.test', trustProxy },
            stores: { kind: 'memory' },
            backends: [{ type: 'local' }],
          },
          {},
        ),
        { logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) },
      );
      await app.close();
      const warned = lines.some((l) => l.includes('publicUrl is https but trustProxy is off'));
      expect(warned, `trustProxy ${String(trustProxy)}`).to.equal(trustProxy === false);
    }
  });

  it('warns at start-up that SAML logout stays local when IdPs have an sloUrl but the SP no key', async function () {
    const cert = join(dir, 'idp.pem');
    writeFileSync(cert, generateTestKeyPair('idp.example.test').certPem);
    for (const signingKeyFile of [undefined, join(dir, 'sp-key.pem')]) {
      if (signingKeyFile !== undefined) {
        const pair = generateTestKeyPair('sp.example.test');
        writeFileSync(signingKeyFile, pair.privateKeyPem);
        writeFileSync(join(dir, 'sp-cert.pem'), pair.certPem);
      }
      const lines: string[] = [];
      const app = await createApp(
        parseConfig(
          {
            server: { secret: SECRET, publicUrl: 'https://sp.example.test', trustProxy: true },
            stores: { kind: 'memory' },
            backends: [
              {
                type: 'saml',
                sp: {
                  entityId: 'https://sp.example.test',
                  signingKeyFile,
                  signingCertFiles:
                    signingKeyFile === undefined ? undefined : [join(dir, 'sp-cert.pem')],
                },
                idps: [
                  {
                    id: 'corp',
                    entityId: 'https://idp.example.test',
                    ssoUrl: 'https://idp.example.test/sso',
                    sloUrl: 'https://idp.example.test/slo',
                    signingCertFiles: [cert],
                  },
                ],
              },
            ],
          },
          {},
        ),
        { logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) },
      );
      await app.close();
      const warned = lines.some((l) => l.includes('SAML Single Logout is off'));
      expect(warned, `key ${String(signingKeyFile)}`).to.equal(signingKeyFile === undefined);
    }
  });

  it('answers a body it cannot read as the client error it is, not a 500', async function () {
    const lines: string[] = [];
    const logged = await createApp(config(dir), {
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    });
    try {
      const post = (encoding: string, body: Buffer) =>
        request(logged.callback())
          .post('/login')
          .set('Content-Type', 'application/x-www-form-urlencoded')
          .set('Content-Encoding', encoding)
          .send(body);
      // gzip and deflate that do not inflate: zlib's errors carry no HTTP status.
      for (const encoding of ['gzip', 'deflate']) {
        const res = await post(encoding, Buffer.from('not compressed at all')).expect(400);
        expect((res.body as { code: string }).code).to.equal('INVALID_REQUEST');
      }
      await post('x-unknown', Buffer.from('a=b')).expect(415);
      await post('identity', Buffer.alloc(17 * 1024, 'a')).expect(413);
    } finally {
      await logged.close();
    }
    // Nothing a client sends is logged as the host's own failure.
    const levels = lines.map((l) => (JSON.parse(l) as { level: number }).level);
    expect(levels.filter((level) => level >= 50)).to.deep.equal([]);
  });

  it('writes JSON logs with request ids and never a password, token or cookie', async function () {
    const lines: string[] = [];
    const logged = await createApp(config(dir), {
      logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }),
    });
    try {
      const agent = request.agent(logged.callback());
      await formLogin(agent, 'olga', 'olga-password-123', 303);
      await agent.get('/api/me').set('X-Request-Id', 'trace-123').expect(200);
      await request(logged.callback())
        .get('/api/me')
        .set('Authorization', 'Bearer secret-token-value')
        .expect(401);
      await formLogin(request.agent(logged.callback()), 'olga', 'wrong-password-456', 200, {
        'X-Request-Id': 'trace-failed',
      });
      await agent
        .post('/logout')
        .type('form')
        .send({ _csrf: await csrfFrom(agent, '/') })
        .expect(303);
    } finally {
      await logged.close();
    }
    const text = lines.join('');
    expect(lines.length).to.be.greaterThan(3);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const entry of entries) expect(entry).to.have.property('reqId');
    expect(text).to.include('"reqId":"trace-123"');
    for (const secret of [
      'olga-password-123',
      'wrong-password-456',
      'secret-token-value',
      'authbridge.sid=',
    ])
      expect(text).to.not.include(secret);
    // The audit trail: who, through which backend, from where, under which request id.
    const audit = (msg: string) => entries.filter((e) => e['msg'] === msg);
    expect(audit('login')).to.have.length(1);
    expect(audit('login')[0]).to.include({ username: 'olga', backend: 'local', level: 30 });
    expect(audit('login')[0]).to.have.property('ip').that.is.a('string');
    expect(audit('login failed')).to.have.length(1);
    expect(audit('login failed')[0]).to.include({
      username: 'olga',
      reqId: 'trace-failed',
      level: 40,
    });
    expect(audit('logout')).to.have.length(1);
    expect(audit('logout')[0]).to.include({ username: 'olga' });
  });

  it('keeps a caller X-Request-Id of 1 to 64 characters of A-Za-z0-9._- and replaces any other', async function () {
    const lines: string[] = [];
    const logged = await createApp(config(dir), {
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    });
    try {
      const server = logged.callback();
      for (const kept of ['trace-123', 'A.b_C-9', 'x'.repeat(64)]) {
        const res = await request(server).get('/healthz').set('X-Request-Id', kept).expect(200);
        expect(res.headers['x-request-id'], kept).to.equal(kept);
      }
      for (const replaced of [
        'x'.repeat(65),
        'has space',
        'a/b',
        'a:b',
        'id;drop',
        '{"json":1}',
        'tab\there',
      ]) {
        lines.length = 0;
        const res = await request(server).get('/healthz').set('X-Request-Id', replaced).expect(200);
        const sent = res.headers['x-request-id'] as string;
        expect(sent, replaced).to.match(
          /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
        );
        // The log carries the replacement, never the caller's value.
        const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(entries.find((l) => l['msg'] === 'request')?.['reqId'], replaced).to.equal(sent);
        expect(lines.join('\n'), replaced).to.not.include(JSON.stringify(replaced).slice(1, -1));
      }
    } finally {
      await logged.close();
    }
  });

  it('sends HSTS over HTTPS only: behind a trusted proxy that says https, never on plain HTTP', async function () {
    const hsts = 'max-age=31536000; includeSubDomains';
    const hostWith = (trustProxy: boolean) =>
      createApp(
        parseConfig(
          {
            server: { secret: SECRET, trustProxy },
            stores: { kind: 'memory' },
            backends: [{ type: 'local' }],
          },
          {},
        ),
        { logger: pino({ level: 'silent' }) },
      );
    const trusting = await hostWith(true);
    const direct = await hostWith(false);
    try {
      for (const path of ['/healthz', '/login', '/api/me', '/nowhere']) {
        const secure = await request(trusting.callback())
          .get(path)
          .set('X-Forwarded-Proto', 'https');
        expect(secure.headers['strict-transport-security'], path).to.equal(hsts);
        const plain = await request(trusting.callback()).get(path);
        expect(plain.headers['strict-transport-security'], path).to.equal(undefined);
        // Without trustProxy the header is the client's word, and not taken.
        const forged = await request(direct.callback()).get(path).set('X-Forwarded-Proto', 'https');
        expect(forged.headers['strict-transport-security'], path).to.equal(undefined);
      }
    } finally {
      await trusting.close();
      await direct.close();
    }
  });

  it('cuts a failed login username to 128 characters in the audit log', async function () {
    const lines: string[] = [];
    const logged = await createApp(config(dir), {
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    });
    const typed = (n: number, tail: string): string => `${'n'.repeat(n)}${tail}`;
    try {
      for (const username of [
        typed(128, ''),
        typed(128, 'TAIL-BEYOND-128'),
        typed(2000, 'END-OF-2000'),
      ])
        await formLogin(request.agent(logged.callback()), username, 'wrong-password', 200);
    } finally {
      await logged.close();
    }
    const failed = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['msg'] === 'login failed')
      .map((l) => l['username']);
    expect(failed).to.deep.equal([typed(128, ''), typed(128, ''), typed(128, '')]);
    expect(lines.join('\n')).to.not.include('TAIL').and.not.include('END-OF');
  });

  it('takes the client address from the proxies it trusts, never from what the client wrote', async function () {
    const forged = '10.9.9.9, 203.0.113.9'; // the client wrote 10.9.9.9; the proxy added the rest
    for (const [trustProxy, ip] of [
      [false, undefined],
      [true, '203.0.113.9'],
      [2, '10.9.9.9'],
    ] as const) {
      const lines: string[] = [];
      const behind = await createApp(
        parseConfig(
          {
            server: { secret: SECRET, trustProxy },
            stores: { kind: 'memory' },
            backends: [{ type: 'local' }],
          },
          {},
        ),
        { logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) },
      );
      try {
        await formLogin(request.agent(behind.callback()), 'nobody', 'wrong-password', 200, {
          'X-Forwarded-For': forged,
        });
        const failed = lines
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l['msg'] === 'login failed');
        if (ip === undefined) expect(failed?.['ip']).to.match(/127\.0\.0\.1$/);
        else expect(failed?.['ip']).to.equal(ip);
      } finally {
        await behind.close();
      }
    }
  });

  it('is not ready when its store is gone (fail closed)', async function () {
    await app.close();
    const res = await request(app.callback()).get('/readyz').expect(503);
    expect((res.body as { status: string }).status).to.equal('not ready');
  });

  it('closes its stores even when a backend fails to close, and says so', async function () {
    // An app of its own: its close() keeps the failure for every later call.
    const own = await createApp(config(mkdtempSync(join(dir, 'own-'))), {
      logger: pino({ level: 'silent' }),
    });
    const broken = new Error('backend close failed');
    own.authenticator.close = () => Promise.reject(broken);
    const closing: unknown = await own.close().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(closing).to.equal(broken);
    await expectRejection(own.userStore.getById('anyone'), 'CLOSED');
    const ready = await request(own.callback()).get('/readyz').expect(503);
    expect((ready.body as { checks: Record<string, string> }).checks).to.include({
      'store:kv': 'CLOSED',
      'store:users': 'CLOSED',
    });
  });
});

describe('graceful shutdown', function () {
  it('stops accepting connections, lets an in-flight request finish, then closes the app', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'authbridge-drain-'));
    const app = await createApp(config(dir), { logger: pino({ level: 'silent' }) });
    const host = await listen(app, '127.0.0.1', 0);
    // A keep-alive connection on both sides that nobody closes for a minute, longer than the drain
    // timeout below and the test's: the server must close it once its answer is out.
    host.server.keepAliveTimeout = 60_000;
    const keepAlive = new Agent({ keepAlive: true, timeout: 60_000 });
    try {
      const { port } = new URL(host.url);
      // A request whose body is still on its way when shutdown starts.
      const body = 'username=olga&password=olga-password-123';
      const inFlight = slowLoginRequest(Number(port), body.length, keepAlive);
      await inFlight.sent;
      let closed = false;
      const stopping = host.shutdown(30_000).then(() => {
        closed = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(closed, 'shutdown waits for the in-flight request').to.equal(false);
      await fetch(`${host.url}/healthz`).then(
        () => expect.fail('a new connection was accepted during shutdown'),
        () => undefined,
      );
      inFlight.finish(body);
      expect(await inFlight.status).to.equal(403); // answered (no CSRF token), not cut off
      await stopping;
      expect(closed).to.equal(true);
      await request(app.callback()).get('/readyz').expect(503); // stores closed after the drain
    } finally {
      keepAlive.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A POST /login whose headers go out now and whose body is written by `finish`. */
function slowLoginRequest(port: number, length: number, agent?: Agent) {
  let finish!: (body: string) => void;
  let sent!: () => void;
  const sentP = new Promise<void>((resolve) => (sent = resolve));
  const status = new Promise<number>((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': length },
        ...(agent === undefined ? {} : { agent }),
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.flushHeaders();
    req.on('socket', (socket) =>
      socket.on('connect', () => {
        sent();
      }),
    );
    finish = (body) => req.end(body);
  });
  return {
    sent: sentP,
    status,
    finish: (body: string) => {
      finish(body);
    },
  };
}

describe('authbridge CLI', function () {
  let dir: string;
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'authbridge-cli-'));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  function run(
    args: string[],
    env: NodeJS.ProcessEnv = {},
  ): Promise<{ code: number | null; out: string; err: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env } });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => {
        resolve({ code, out, err });
      });
    });
  }

  it('check-config: 0 for a valid file, 2 with the bad key path otherwise', async function () {
    writeFileSync(
      join(dir, 'ok.yaml'),
      'server:\n  secret: ${AB_SECRET}\nbackends:\n  - type: local\n',
    );
    const ok = await run(['check-config', join(dir, 'ok.yaml')], { AB_SECRET: SECRET });
    expect(ok.code).to.equal(0);
    writeFileSync(join(dir, 'bad.yaml'), 'server:\n  secret: short\nbackends: []\n');
    const bad = await run(['check-config', join(dir, 'bad.yaml')]);
    expect(bad.code).to.equal(2);
    expect(bad.err).to.include('server.secret').and.include('backends');
    expect((await run(['frobnicate'])).code).to.equal(64);
    expect((await run(['serve', '--port', '1'])).code).to.equal(64);
  });

  it('check-config: refuses what serve would refuse, naming the backend', async function () {
    this.timeout(20_000);
    const cert = join(dir, 'idp.pem');
    writeFileSync(cert, generateTestKeyPair('idp.example.test').certPem);
    const saml = (extra: string, certFile = cert) =>
      `server:\n  secret: "${SECRET}"\n  publicUrl: https://sp.example.test\nbackends:\n` +
      `  - type: saml\n    sp:\n      entityId: https://sp.example.test\n${extra}` +
      `    idps:\n      - id: corp\n        entityId: https://idp.example.test\n` +
      `        ssoUrl: https://idp.example.test/sso\n        signingCertFiles: [${certFile}]\n`;
    const check = async (name: string, yaml: string) => {
      writeFileSync(join(dir, name), yaml);
      return run(['check-config', join(dir, name)]);
    };
    expect((await check('ok.yaml', saml(''))).code).to.equal(0);
    // The schema takes these; the SAML backend refuses them when it is built.
    const short = await check('short.yaml', saml('    maxSessionMs: 1000\n'));
    expect(short.code).to.equal(2);
    expect(short.err).to.include('backends[0] (saml)').and.include('maxSessionMs');
    // Plain http to an IdP beyond loopback, not written out: the backend's own check, by path.
    const plain = await check(
      'plain.yaml',
      saml('').replace('https://idp.example.test/sso', 'http://idp.example.test/sso'),
    );
    expect(plain.code).to.equal(2);
    expect(plain.err).to.include('backends[0] (saml)').and.include('ssoUrl must be https');
    const missing = await check('missing.yaml', saml('', join(dir, 'nowhere.pem')));
    expect(missing.code).to.equal(2);
    expect(missing.err).to.include('backends[0] (saml)').and.include('nowhere.pem');
    const twice = await check(
      'twice.yaml',
      `server:\n  secret: "${SECRET}"\nbackends:\n  - type: local\n  - type: local\n`,
    );
    expect(twice.code).to.equal(2);
    expect(twice.err).to.include('backends[1].id').and.include('duplicate backend id "local"');
    const nowhere = await check(
      'nowhere.yaml',
      `server:\n  secret: "${SECRET}"\nstores:\n  path: ${join(dir, 'no', 'such', 'a.db')}\nbackends:\n  - type: local\n`,
    );
    expect(nowhere.code).to.equal(2);
    expect(nowhere.err).to.include('stores.path');
  });

  it('createApp leaves nothing open when a backend is refused', async function () {
    const db = join(dir, 'refused.db');
    const openFiles = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(db);
        } catch {
          return false; // closed while listing
        }
      }).length;
    const config = parseConfig(
      {
        server: { secret: SECRET, publicUrl: 'https://sp.example.test' },
        stores: { path: db },
        backends: [
          { type: 'local' },
          {
            type: 'saml',
            sp: { entityId: 'https://sp.example.test' },
            idps: [
              {
                id: 'corp',
                entityId: 'https://idp.example.test',
                ssoUrl: 'https://idp.example.test/sso',
                signingCertFiles: [join(dir, 'nowhere.pem')],
              },
            ],
          },
        ],
      },
      {},
    );
    const refused = await createApp(config, { logger: pino({ level: 'silent' }) }).then(
      () => expect.fail('createApp should refuse the missing certificate'),
      (error: unknown) => error as { code?: string; message: string },
    );
    expect(refused.code).to.equal('CONFIG_INVALID');
    expect(refused.message).to.include('backends[1] (saml)');
    expect(openFiles()).to.equal(0);
  });

  it('serve: a store that does not open is one line on stderr and exit 69, not a stack trace', async function () {
    // The store path is a directory: check-config passes (its parent is writable), SQLite refuses.
    writeFileSync(
      join(dir, 'dir-store.yaml'),
      `server:\n  port: 0\n  secret: "${SECRET}"\nstores:\n  path: ${dir}\nbackends:\n  - type: local\nlogging:\n  level: silent\n`,
    );
    const failed = await run(['serve', '--config', join(dir, 'dir-store.yaml')]);
    expect(failed.code).to.equal(69);
    expect(failed.err.trim()).to.match(/^authbridge: STORE_UNAVAILABLE: sqlite open: /);
    expect(failed.err).to.not.include('    at ');
  });

  it('serve: a port already taken is one line on stderr and exit 69, not a stack trace', async function () {
    const taken = createNetServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = taken.address() as AddressInfo;
      writeFileSync(
        join(dir, 'taken.yaml'),
        `server:\n  host: 127.0.0.1\n  port: ${String(port)}\n  secret: "${SECRET}"\nstores:\n  path: ${join(dir, 'taken.db')}\nbackends:\n  - type: local\nlogging:\n  level: silent\n`,
      );
      const failed = await run(['serve', '--config', join(dir, 'taken.yaml')]);
      expect(failed.code).to.equal(69);
      expect(failed.err.trim()).to.equal(
        `authbridge: cannot listen on 127.0.0.1:${String(port)}: EADDRINUSE`,
      );
    } finally {
      await new Promise<void>((resolve) =>
        taken.close(() => {
          resolve();
        }),
      );
    }
  });

  it('serve: listens, answers, and shuts down gracefully on SIGTERM', async function () {
    this.timeout(20_000);
    writeFileSync(
      join(dir, 'host.yaml'),
      `server:\n  port: 0\n  secret: "${SECRET}"\nstores:\n  path: ${join(dir, 'h.db')}\nbackends:\n  - type: local\nlogging:\n  level: silent\n`,
    );
    const child = spawn(process.execPath, [cli, 'serve', '--config', join(dir, 'host.yaml')]);
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      child.once('exit', (code) => {
        reject(new Error(`serve exited with ${String(code)}: ${out}`));
      });
    });
    const res = await fetch(`${url}/healthz`);
    expect(res.status).to.equal(200);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).to.equal(0);
    expect(out).to.include('authbridge stopped');
  });
});
