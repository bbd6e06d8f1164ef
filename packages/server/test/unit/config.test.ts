import { expectRejection } from '@authbridge/conformance';
import { AuthBridgeError } from '@authbridge/core';
import { checkConfig, interpolateEnv, loadConfigFile, parseConfig } from '@authbridge/server';
import { testKeyPair } from '@authbridge/testkit';
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

const SECRET = 'x'.repeat(32);
const minimal = { server: { secret: SECRET }, backends: [{ type: 'local' }] };

function configError(run: () => unknown): AuthBridgeError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(AuthBridgeError);
    expect((error as AuthBridgeError).code).to.equal('CONFIG_INVALID');
    return error as AuthBridgeError;
  }
  return expect.fail('expected CONFIG_INVALID');
}

describe('host configuration', function () {
  it('fills safe defaults and freezes the result', function () {
    const config = parseConfig(minimal, {});
    expect(config.server).to.include({ host: '127.0.0.1', port: 8080, trustProxy: false });
    expect(config.stores).to.deep.equal({ kind: 'sqlite', path: './authbridge.db' });
    expect(config.backends[0]).to.include({ type: 'local', id: 'local' });
    expect(Object.isFrozen(config.server)).to.equal(true);
  });

  it('names the path of every bad key', function () {
    const err = configError(() =>
      parseConfig(
        {
          server: { secret: 'short', port: 'eighty', extra: 1 },
          backends: [{ type: 'local' }, { type: 'kerberos' }],
        },
        {},
      ),
    );
    expect(err.message)
      .to.include('server.secret')
      .and.include('server.port')
      .and.include('backends[1].type');
    expect(err.message).to.match(/server: .*extra/);
  });

  it('takes the SQLite read-cache settings and names a bad one', function () {
    expect(
      parseConfig({ ...minimal, stores: { readCache: { coherenceMs: 0 } } }, {}).stores.readCache,
    ).to.deep.equal({ coherenceMs: 0 });
    expect(parseConfig({ ...minimal, stores: { readCache: false } }, {}).stores.readCache).to.equal(
      false,
    );
    // `false` from the environment, as every other boolean setting takes it.
    expect(
      parseConfig({ ...minimal, stores: { readCache: '${RC}' } }, { RC: 'false' }).stores.readCache,
    ).to.equal(false);
    const err = configError(() =>
      parseConfig({ ...minimal, stores: { readCache: { coherenceMs: -1 } } }, {}),
    );
    expect(err.message).to.include('stores.readCache');
  });

  it('interpolates ${ENV} and names the path of an unset variable', function () {
    const config = parseConfig(
      { server: { secret: '${AB_SECRET}' }, backends: [{ type: 'local' }] },
      { AB_SECRET: SECRET },
    );
    expect(config.server.secret).to.equal(SECRET);
    const err = configError(() =>
      parseConfig({ server: { secret: '${AB_MISSING}' }, backends: [{ type: 'local' }] }, {}),
    );
    expect(err.message).to.include('server.secret').and.include('AB_MISSING');
    expect(interpolateEnv('a$${b}', {})).to.equal('a${b}');
    // Every unset variable and every other problem in one run; an unset key is named once.
    const all = configError(() =>
      parseConfig(
        {
          server: { secret: '${AB_A}', port: 'eighty' },
          backends: [{ type: 'ldap', url: 'ldaps://ldap.example', bindPassword: '${AB_B}' }],
        },
        {},
      ),
    );
    expect(all.message)
      .to.include('server.secret: environment variable AB_A is not set')
      .and.include('backends[0].bindPassword: environment variable AB_B is not set')
      .and.include('server.port');
    expect(all.message.match(/server\.secret/g)).to.have.length(1);
  });

  it('reads numbers and booleans that ${ENV} gives as strings, and refuses what they do not spell', function () {
    const env = {
      PORT: '9090',
      PROXY: 'true',
      TIMEOUT: ' 2500 ',
      SESSION: '3600000',
      SECRET_DIGITS: '1'.repeat(40),
    };
    const config = parseConfig(
      {
        server: {
          secret: '${SECRET_DIGITS}',
          port: '${PORT}',
          trustProxy: '${PROXY}',
          shutdownTimeoutMs: '${TIMEOUT}',
          sessionMaxAgeMs: '${SESSION}',
        },
        backends: [{ type: 'local' }],
      },
      env,
    );
    expect(config.server).to.include({
      port: 9090,
      trustProxy: true,
      shutdownTimeoutMs: 2500,
      sessionMaxAgeMs: 3_600_000,
    });
    // A string field stays a string, digits or not.
    expect(config.server.secret).to.equal('1'.repeat(40));
    const err = configError(() =>
      parseConfig(
        { server: { secret: SECRET, port: '${PORT}' }, backends: [{ type: 'local' }] },
        { PORT: '80a' },
      ),
    );
    expect(err.message).to.include('server.port');
  });

  it('refuses server settings that would fail open or misbehave later', function () {
    for (const [server, path] of [
      // An empty host (say `${HOST}` set to nothing) would listen on every interface.
      [{ host: '' }, 'server.host'],
      // Node fires longer timers at once: the drain would cut every request at 1 ms.
      [{ shutdownTimeoutMs: 2 ** 31 }, 'server.shutdownTimeoutMs'],
      // Past a year: cookie expiry dates stop being dates.
      [{ sessionMaxAgeMs: 9e15 }, 'server.sessionMaxAgeMs'],
      [{ trustProxy: 0 }, 'server.trustProxy'],
      [{ trustProxy: 'yes' }, 'server.trustProxy'],
    ] as const) {
      const err = configError(() =>
        parseConfig({ ...minimal, server: { secret: SECRET, ...server } }, {}),
      );
      expect(err.message).to.include(path);
    }
    expect(
      parseConfig({ ...minimal, server: { secret: SECRET, trustProxy: 2 } }, {}).server.trustProxy,
    ).to.equal(2);
  });

  it('refuses a config user with a weak password and a malformed permission', function () {
    const err = configError(() =>
      parseConfig(
        {
          server: { secret: SECRET },
          backends: [
            {
              type: 'local',
              users: [{ username: 'a', password: 'short', permissions: ['nodot'] }],
            },
          ],
        },
        {},
      ),
    );
    expect(err.message)
      .to.include('backends[0].users[0].password')
      .and.include('backends[0].users[0].permissions[0]');
  });

  it('refuses config users the local backend could not log in, and a name given twice', function () {
    const user = { password: 'a-good-password' };
    const err = configError(() =>
      parseConfig(
        {
          server: { secret: SECRET },
          backends: [
            {
              type: 'local',
              users: [
                { ...user, username: '   ' },
                { ...user, username: 'x'.repeat(257) },
                { username: 'ops', password: 'p'.repeat(4097) },
                { ...user, username: 'ops' },
                { ...user, username: 'ops', isSuperuser: true },
                // The same name as the store keeps it (NFKC): ｏｐｓ is ops.
                { ...user, username: '\uFF4F\uFF50\uFF53' },
              ],
            },
          ],
        },
        {},
      ),
    );
    expect(err.message)
      .to.include('backends[0].users[0].username')
      .and.include('backends[0].users[1].username')
      .and.include('backends[0].users[2].password')
      .and.include('backends[0].users[3].username: duplicate username "ops"')
      .and.include('backends[0].users[4].username')
      .and.include('backends[0].users[5].username');
    expect(err.message).not.to.include('backends[0].users[2].username');
  });

  it('refuses an IdP id used by two SAML backends (one /saml/<id>/ route each)', function () {
    const idp = {
      id: 'corp',
      entityId: 'https://idp.example.test',
      ssoUrl: 'https://idp.example.test/sso',
      signingCertFiles: ['idp.pem'],
    };
    const saml = (id: string) => ({
      type: 'saml',
      id,
      sp: { entityId: 'https://sp.example.test' },
      idps: [idp],
    });
    const err = configError(() =>
      parseConfig(
        {
          server: { secret: SECRET, publicUrl: 'https://sp.example.test' },
          backends: [saml('s1'), saml('s2')],
        },
        {},
      ),
    );
    expect(err.message).to.include('backends[1].idps[0].id').and.include('duplicate IdP id');
  });

  it('refuses plain http beyond loopback for the public URL unless written out (the SAML backend checks its IdP URLs)', function () {
    const idp = (ssoUrl: string) => ({
      id: 'corp',
      entityId: 'https://idp.example.test',
      ssoUrl,
      signingCertFiles: ['idp.pem'],
    });
    const config = (publicUrl: string, ssoUrl: string, extra: object = {}) => ({
      server: { secret: SECRET, publicUrl, ...extra },
      backends: [
        { type: 'saml', sp: { entityId: 'https://sp.example.test' }, idps: [idp(ssoUrl)] },
      ],
    });
    const err = configError(() =>
      parseConfig(config('http://auth.example.com', 'http://idp.example.com/sso'), {}),
    );
    expect(err.message).to.include('server.publicUrl');
    // Loopback (the demo, tests) and https pass; so does http when the config says so.
    parseConfig(config('http://127.0.0.1:8080', 'http://idp.example.com/sso'), {});
    parseConfig(config('http://127.0.0.1:8080', 'http://localhost:9000/sso'), {});
    parseConfig(config('https://auth.example.com', 'https://idp.example.com/sso'), {});
    parseConfig(
      config('http://auth.example.com', 'https://idp.example.com/sso', { allowInsecureHttp: true }),
      {},
    );
    // Not URLs at all (a typo, an unset variable): named by path, never a crash.
    const typo = configError(() => parseConfig(config('http//auth.example.com', 'not a url'), {}));
    expect(typo.message).to.include('server.publicUrl').and.include('backends[0].idps[0].ssoUrl');
    const unset = configError(() => parseConfig(config('${PUBLIC_URL}', '${SSO}'), {}));
    expect(unset.message)
      .to.include('server.publicUrl: environment variable PUBLIC_URL is not set')
      .and.include('backends[0].idps[0].ssoUrl: environment variable SSO is not set');
    // A base URL: the endpoints are appended to it.
    for (const bad of [
      'https://auth.example.com/?x=1',
      'https://auth.example.com/#f',
      'https://u:p@auth.example.com',
    ]) {
      expect(
        configError(() => parseConfig(config(bad, 'https://idp.example.com/sso'), {})).message,
      ).to.include('server.publicUrl');
    }
  });

  describe('LDAP options of the package README: userBindName, issuer, cache', function () {
    // The README's Active Directory example, as YAML would give it.
    const ad = {
      type: 'ldap',
      url: 'ldap://dc1.corp.example.org',
      preset: 'activedirectory',
      userSearch: { base: 'DC=corp,DC=example,DC=org' },
      userBindName: '{username}@corp.example.org',
      groups: { base: 'DC=corp,DC=example,DC=org' },
    };
    const withLdap = (ldap: object) => ({
      ...minimal,
      stores: { kind: 'memory' },
      backends: [{ ...ad, ...ldap }],
    });

    it('takes them, numbers from ${ENV} too, and builds the backend with them', async function () {
      const config = parseConfig(
        withLdap({
          issuer: 'corp-ad',
          cache: {
            dnTtlMs: 60_000,
            groupTtlMs: '${GROUP_TTL}',
            credentialTtlMs: 0,
            maxEntries: 500,
          },
        }),
        { GROUP_TTL: '30000' },
      );
      expect(config.backends[0]).to.deep.include({
        userBindName: '{username}@corp.example.org',
        issuer: 'corp-ad',
        cache: { dnTtlMs: 60_000, groupTtlMs: 30_000, credentialTtlMs: 0, maxEntries: 500 },
      });
      await checkConfig(config);
    });

    it('refuses a bad value by its path', function () {
      const err = configError(() =>
        parseConfig(
          withLdap({
            userBindName: '',
            issuer: '',
            cache: { dnTtlMs: -1, groupTtlMs: 1.5, maxEntries: 0, ttlMs: 5 },
          }),
          {},
        ),
      );
      expect(err.message)
        .to.include('backends[0].userBindName')
        .and.include('backends[0].issuer')
        .and.include('backends[0].cache.dnTtlMs')
        .and.include('backends[0].cache.groupTtlMs')
        .and.include('backends[0].cache.maxEntries')
        .and.match(/backends\[0\]\.cache: .*"ttlMs"/);
    });

    it('hands them to the backend, whose own checks refuse what it cannot use, naming the entry', async function () {
      for (const [ldap, message] of [
        [{ userBindName: 'x@{username}' }, 'userBindName must be {username}@domain'],
        [
          { userSearch: undefined, userDnTemplate: 'CN={username},DC=corp' },
          'userBindName needs userSearch',
        ],
        [{ issuer: '   ' }, 'issuer must be a non-empty string'],
        [{ cache: { credentialTtlMs: 86_400_001 } }, 'cache.credentialTtlMs must be an integer'],
      ] as const) {
        const err = await checkConfig(parseConfig(withLdap(ldap), {})).then(
          () => expect.fail(`accepted ${JSON.stringify(ldap)}`),
          (error: unknown) => error as AuthBridgeError,
        );
        expect(err.code).to.equal('CONFIG_INVALID');
        expect(err.message).to.include('backends[0] (ldap): ').and.include(message);
      }
    });
  });

  it("parses the README's configuration examples", function () {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const blocks = [...readme.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    expect(blocks.length).to.be.greaterThan(1);
    const env = new Proxy({}, { get: () => 'an-example-value-of-32-characters-or-more' });
    for (const block of blocks) {
      const raw = parse(block, { schema: 'core' }) as Record<string, unknown>;
      // A backend entry alone is shown with `backends:` only; the server part is the first example's.
      const server = { secret: SECRET, publicUrl: 'https://auth.example.com' };
      parseConfig({ server, ...raw }, env);
    }
  });

  describe('SAML attribute mapping, for the backend and per IdP', function () {
    let dir: string;
    before(function () {
      dir = mkdtempSync(join(tmpdir(), 'authbridge-config-saml-'));
      writeFileSync(join(dir, 'idp.pem'), testKeyPair('idp.example.test').certPem);
    });
    after(function () {
      rmSync(dir, { recursive: true, force: true });
    });
    // Entra ID's claim names.
    const CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
    const entra = {
      email: { name: `${CLAIMS}/emailaddress`, required: '${EMAIL_REQUIRED}' },
      displayName: { name: `${CLAIMS}/name` },
      groups: { name: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups' },
      extra: { department: { name: `${CLAIMS}/department`, cardinality: 'single' } },
    };
    const withSaml = (saml: object, idp: object = {}) => ({
      server: { secret: SECRET, publicUrl: 'https://sp.example.test' },
      stores: { kind: 'memory' },
      backends: [
        {
          type: 'saml',
          sp: { entityId: 'https://sp.example.test' },
          idps: [
            {
              id: 'corp',
              entityId: 'https://idp.example.test',
              ssoUrl: 'https://idp.example.test/sso',
              signingCertFiles: [join(dir, 'idp.pem')],
              ...idp,
            },
          ],
          ...saml,
        },
      ],
    });

    it('takes them, booleans from ${ENV} too, and builds the backend with them', async function () {
      const config = parseConfig(
        withSaml(
          { attributes: { email: { name: 'urn:oid:0.9.2342.19200300.100.1.3' } } },
          { attributes: entra },
        ),
        { EMAIL_REQUIRED: 'true' },
      );
      const saml = config.backends[0] as Extract<(typeof config.backends)[0], { type: 'saml' }>;
      expect(saml.attributes).to.deep.equal({
        email: { name: 'urn:oid:0.9.2342.19200300.100.1.3' },
      });
      expect(saml.idps[0]!.attributes).to.deep.equal({
        ...entra,
        email: { ...entra.email, required: true },
      });
      await checkConfig(config);
    });

    it('refuses a bad value by its path', function () {
      const err = configError(() =>
        parseConfig(
          withSaml(
            { attributes: { mail: { name: 'mail' } } },
            {
              attributes: {
                email: { name: '' },
                groups: { name: 'groups', cardinality: 'many' },
                extra: JSON.parse('{"__proto__": {"name": "x"}, "dept": {"name": "d"}}') as object,
              },
            },
          ),
          {},
        ),
      );
      expect(err.message)
        .to.match(/backends\[0\]\.attributes: .*"mail"/)
        .and.include('backends[0].idps[0].attributes.email.name')
        .and.include('backends[0].idps[0].attributes.groups.cardinality')
        .and.include('backends[0].idps[0].attributes.extra.__proto__: reserved key');
    });

    it('hands them to the backend, whose own checks refuse what it cannot use, naming the entry', async function () {
      for (const [saml, idp, message] of [
        [
          { attributes: { groups: { name: 'g', cardinality: 'single' } } },
          {},
          'attributes.groups is always multiple',
        ],
        [
          {},
          { attributes: { extra: { email: { name: 'mail' } } } },
          'attributes.extra key "email" is reserved',
        ],
      ] as const) {
        const err = await checkConfig(parseConfig(withSaml(saml, idp), {})).then(
          () => expect.fail(`accepted ${JSON.stringify([saml, idp])}`),
          (error: unknown) => error as AuthBridgeError,
        );
        expect(err.code).to.equal('CONFIG_INVALID');
        expect(err.message).to.include('backends[0] (saml): ').and.include(message);
      }
    });
  });

  describe('REST private_key_jwt client authentication, from a PEM key file', function () {
    let dir: string;
    before(function () {
      dir = mkdtempSync(join(tmpdir(), 'authbridge-config-rest-'));
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      writeFileSync(join(dir, 'client.pem'), privateKey.export({ type: 'sec1', format: 'pem' }));
      writeFileSync(join(dir, 'public.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    });
    after(function () {
      rmSync(dir, { recursive: true, force: true });
    });
    const withClientAuth = (clientAuth: object) => ({
      ...minimal,
      stores: { kind: 'memory' },
      backends: [
        {
          type: 'rest',
          mode: {
            kind: 'introspection',
            endpoint: 'https://as.example.com/introspect',
            issuer: 'https://as.example.com',
            audience: 'https://api.example.com',
            clientAuth: {
              method: 'private_key_jwt',
              clientId: 'authbridge',
              privateKeyFile: join(dir, 'client.pem'),
              algorithm: 'ES256',
              ...clientAuth,
            },
          },
        },
      ],
    });

    it('takes it, numbers from ${ENV} too, and builds the backend with the key', async function () {
      const config = parseConfig(
        withClientAuth({
          keyId: 'k1',
          audience: 'https://as.example.com/token',
          lifetimeSec: '${TTL}',
        }),
        { TTL: '30' },
      );
      const rest = config.backends[0] as Extract<(typeof config.backends)[0], { type: 'rest' }>;
      expect(rest.mode).to.have.nested.property('clientAuth.lifetimeSec', 30);
      await checkConfig(config);
    });

    it('refuses a bad value by its path', function () {
      const err = configError(() =>
        parseConfig(
          withClientAuth({ algorithm: 'HS256', privateKeyFile: '', privateKey: 'PEM text' }),
          {},
        ),
      );
      expect(err.message)
        .to.include('backends[0].mode.clientAuth.algorithm')
        .and.include('backends[0].mode.clientAuth.privateKeyFile')
        .and.match(/backends\[0\]\.mode\.clientAuth: .*"privateKey"/);
      // Client authentication the host does not take is refused, not ignored.
      expect(
        configError(() => parseConfig(withClientAuth({ method: 'tls_client_auth' }), {})).message,
      ).to.include('backends[0].mode.clientAuth.method');
    });

    it('refuses at check-config a key that is missing, is none, or cannot sign the algorithm, and what the backend refuses', async function () {
      for (const [clientAuth, message] of [
        [{ privateKeyFile: join(dir, 'nowhere.pem') }, 'nowhere.pem'],
        [{ privateKeyFile: join(dir, 'public.pem') }, 'holds no unencrypted PEM private key'],
        [{ algorithm: 'RS256' }, 'mode.clientAuth.privateKeyFile: the key in'],
        [{ algorithm: 'EdDSA' }, 'cannot sign EdDSA'],
        [{ lifetimeSec: 601 }, 'mode.clientAuth.lifetimeSec must be an integer in 1..600'],
      ] as const) {
        const err = await checkConfig(parseConfig(withClientAuth(clientAuth), {})).then(
          () => expect.fail(`accepted ${JSON.stringify(clientAuth)}`),
          (error: unknown) => error as AuthBridgeError,
        );
        expect(err.code).to.equal('CONFIG_INVALID');
        expect(err.message).to.include('backends[0] (rest): ').and.include(message);
      }
    });
  });

  it('reads YAML files and refuses broken YAML with CONFIG_INVALID', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'authbridge-config-'));
    try {
      writeFileSync(
        join(dir, 'ok.yaml'),
        `server:\n  secret: "${SECRET}"\nbackends:\n  - type: local\n`,
      );
      expect((await loadConfigFile(join(dir, 'ok.yaml'), {})).backends).to.have.length(1);
      writeFileSync(join(dir, 'bad.yaml'), 'server: [unclosed\n');
      await expectRejection(loadConfigFile(join(dir, 'bad.yaml'), {}), 'CONFIG_INVALID');
      await expectRejection(loadConfigFile(join(dir, 'missing.yaml'), {}), 'CONFIG_INVALID');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
