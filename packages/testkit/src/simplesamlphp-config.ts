import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateTestKeyPair } from './test-keys.js';

/** The service provider SimpleSAMLphp is configured to talk to (our side, under test). */
export interface SimpleSamlPhpSp {
  /** The SP's entityID. */
  readonly entityId: string;
  /** Where the IdP posts responses (HTTP-POST). */
  readonly acsUrl: string;
  /** The SP's SingleLogoutService. Default none. */
  readonly sloUrl?: string;
  /** The binding the IdP uses to send logout messages to `sloUrl`. Default `redirect`. */
  readonly sloBinding?: 'redirect' | 'post';
  /** The SP's signing certificate (PEM), so the IdP can check signed requests. Default none. */
  readonly certPem?: string;
  /** Make the IdP require signed AuthnRequests and LogoutRequests. Default false. */
  readonly validateRequests?: boolean;
}

/** A user of the `exampleauth:UserPass` source. */
export interface SimpleSamlPhpUser {
  readonly username: string;
  readonly password: string;
  /** Attributes by name (mapped to OIDs on the way out, `core:AttributeMap name2oid`). */
  readonly attributes: Readonly<Record<string, readonly string[]>>;
}

/** Options for `startSimpleSamlPhp`. */
export interface SimpleSamlPhpOptions {
  readonly sp: SimpleSamlPhpSp;
  /** Users that can log in. Default alice/alicepass and bob/bobpass. */
  readonly users?: readonly SimpleSamlPhpUser[];
  /** `sign.logout`: sign LogoutRequests and LogoutResponses. Default false (SimpleSAMLphp's). */
  readonly signLogout?: boolean;
  /** `saml20.sign.response`. Default true. */
  readonly signResponse?: boolean;
  /** `saml20.sign.assertion`. Default true. */
  readonly signAssertion?: boolean;
}

const DEFAULT_USERS: readonly SimpleSamlPhpUser[] = [
  {
    username: 'alice',
    password: 'alicepass',
    attributes: {
      uid: ['alice'],
      mail: ['alice@example.com'],
      displayName: ['Alice Example'],
      eduPersonAffiliation: ['member', 'staff'],
    },
  },
  {
    username: 'bob',
    password: 'bobpass',
    attributes: { uid: ['bob'], mail: ['bob@example.com'], eduPersonAffiliation: ['member'] },
  },
];

/** The default users. */
export const SIMPLESAMLPHP_DEFAULT_USERS: readonly SimpleSamlPhpUser[] =
  Object.freeze(DEFAULT_USERS);

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

function pemBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
}

/** An IdP signing key and its self-signed certificate, written into `dir` as idp.pem and idp.crt. */
export async function makeIdpKeyPair(dir: string): Promise<{ keyPem: string; certPem: string }> {
  const pair = generateTestKeyPair('simplesamlphp.test');
  await writeFile(join(dir, 'idp.pem'), pair.privateKeyPem, { mode: 0o600 });
  await writeFile(join(dir, 'idp.crt'), pair.certPem);
  return { keyPem: pair.privateKeyPem, certPem: pair.certPem };
}

/**
 * Writes SimpleSAMLphp's configuration for one IdP on `baseUrl` into `dir`: config and
 * metadata are PHP files that read JSON next to them, so no value ever needs PHP escaping.
 */
export async function writeSimpleSamlPhpConfig(
  dir: string,
  baseUrl: string,
  options: SimpleSamlPhpOptions,
  secrets: { readonly salt: string; readonly adminPassword: string },
  installDir: string,
): Promise<void> {
  const configDir = join(dir, 'config');
  const metadataDir = join(dir, 'metadata');
  await Promise.all(
    ['config', 'metadata', 'log', 'data', 'tmp', 'sessions'].map((d) =>
      mkdir(join(dir, d), { recursive: true }),
    ),
  );
  const json = async (file: string, value: unknown, variable: string): Promise<void> => {
    await writeFile(`${file}.json`, JSON.stringify(value, null, 2));
    await writeFile(
      `${file}.php`,
      `<?php\n$${variable} = json_decode(file_get_contents(__DIR__ . '/${file.split('/').pop() ?? ''}.json'), true, 512, JSON_THROW_ON_ERROR);\n`,
    );
  };
  await json(
    join(configDir, 'config'),
    {
      baseurlpath: `${baseUrl}/`,
      certdir: `${dir}/`,
      loggingdir: `${dir}/log/`,
      datadir: `${dir}/data/`,
      tempdir: `${dir}/tmp/`,
      metadatadir: `${metadataDir}/`,
      // The shipped attribute maps (name2oid) live with the installed configuration.
      attributenamemapdir: `${installDir}/config/attributemap/`,
      'metadata.sources': [{ type: 'flatfile', directory: metadataDir }],
      technicalcontact_name: 'authbridge tests',
      technicalcontact_email: 'tests@example.com',
      timezone: 'UTC',
      secretsalt: secrets.salt,
      'auth.adminpassword': secrets.adminPassword,
      'admin.protectindexpage': true,
      'admin.protectmetadata': false,
      'logging.level': 7,
      'logging.handler': 'file',
      'logging.logfile': 'simplesamlphp.log',
      'enable.saml20-idp': true,
      'enable.shib13-idp': false,
      'module.enable': { exampleauth: true, core: true, saml: true, admin: true },
      'session.cookie.secure': false,
      // Where SimpleSAMLphp may send the browser (its own open-redirect guard): the SP's host,
      // and host:port when the port is not the scheme's default (it compares them that way).
      'trusted.url.domains': [
        ...new Set([new URL(options.sp.acsUrl).hostname, new URL(options.sp.acsUrl).host]),
      ],
      'session.phpsession.savepath': `${dir}/sessions`,
      'store.type': 'phpsession',
      'language.default': 'en',
      showerrors: true,
      errorreporting: false,
      debug: { saml: false, backtraces: true, validatexml: false },
    },
    'config',
  );
  const users: Record<string, unknown> = {};
  for (const user of options.users ?? SIMPLESAMLPHP_DEFAULT_USERS) {
    users[`${user.username}:${user.password}`] = user.attributes;
  }
  await json(
    join(configDir, 'authsources'),
    { admin: ['core:AdminPassword'], 'example-userpass': { 0: 'exampleauth:UserPass', ...users } },
    'config',
  );
  const entityId = `${baseUrl}/saml2/idp/metadata.php`;
  await json(
    join(metadataDir, 'saml20-idp-hosted'),
    {
      [entityId]: {
        host: '__DEFAULT__',
        privatekey: 'idp.pem',
        certificate: 'idp.crt',
        auth: 'example-userpass',
        'signature.algorithm': RSA_SHA256,
        'sign.logout': options.signLogout ?? false,
        'saml20.sign.response': options.signResponse ?? true,
        'saml20.sign.assertion': options.signAssertion ?? true,
        NameIDFormat: PERSISTENT,
        'attributes.NameFormat': 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri',
        authproc: {
          10: { class: 'saml:AttributeNameID', attribute: 'uid', Format: PERSISTENT },
          90: { class: 'core:AttributeMap', 0: 'name2oid' },
        },
      },
    },
    'metadata',
  );
  const { sp } = options;
  await json(
    join(metadataDir, 'saml20-sp-remote'),
    {
      [sp.entityId]: {
        AssertionConsumerService: [{ Binding: POST, Location: sp.acsUrl }],
        ...(sp.sloUrl === undefined
          ? {}
          : {
              SingleLogoutService: [
                { Binding: sp.sloBinding === 'post' ? POST : REDIRECT, Location: sp.sloUrl },
              ],
            }),
        NameIDFormat: PERSISTENT,
        'signature.algorithm': RSA_SHA256,
        ...(sp.certPem === undefined ? {} : { certData: pemBody(sp.certPem) }),
        'validate.authnrequest': sp.validateRequests ?? false,
        'validate.logout': sp.validateRequests ?? false,
      },
    },
    'metadata',
  );
}
