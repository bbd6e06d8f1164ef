// Benchmark of @authbridge/saml (npm run bench:saml): ACS validation of IdP-initiated responses
// whose Response and Assertion are both signed (RSA-2048, RSA-SHA256/SHA-256) and carry 8
// attributes, built by the in-process test IdP. Same messages, same run, three implementations:
// - authbridge: SamlBackend.authenticate, i.e. node-saml plus every profile check, the assertion
//   replay cache (MemoryKeyValueStore) and user provisioning (MemoryUserStore). Each message is
//   accepted once, so it gets messages of its own for warm-up;
// - node-saml-raw: SAML#validatePostResponseAsync alone, one long-lived instance;
// - passport-saml: the Strategy driven in-process through its success/fail/error hooks.
// Sequential (the work is CPU-bound, one core) and interleaved message by message. The last
// stdout line is the JSON.
import { MemoryKeyValueStore, MemoryUserStore } from '@authbridge/core';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { Strategy as SamlStrategy, type VerifyWithoutRequest } from '@node-saml/passport-saml';
import { SamlBackend } from '@authbridge/saml';
import { TestIdp } from '../packages/saml/test/support/test-idp.js';

interface Row {
  readonly impl: string;
  readonly perSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

const SP_ENTITY_ID = 'https://sp.example.com/saml/metadata';
const ACS_URL = 'https://sp.example.com/saml/bench/acs';
const MESSAGES = Number(process.env['BENCH_SAML_MESSAGES'] ?? 1500);
const WARMUP = 200;
const BUDGET_MS = 60_000;
const USERS = 50;

const idp = new TestIdp({
  entityId: 'https://idp.example.com/saml',
  sp: { entityId: SP_ENTITY_ID, acsUrl: ACS_URL },
});

function message(i: number): string {
  const user = `user${i % USERS}`;
  return idp.respond({
    nameId: user,
    attributes: [
      {
        name: 'urn:oid:0.9.2342.19200300.100.1.3',
        friendlyName: 'mail',
        values: [`${user}@example.com`],
      },
      {
        name: 'urn:oid:2.16.840.1.113730.3.1.241',
        friendlyName: 'displayName',
        values: [`User ${i % USERS}`],
      },
      { name: 'urn:oid:2.5.4.42', friendlyName: 'givenName', values: ['User'] },
      { name: 'urn:oid:2.5.4.4', friendlyName: 'sn', values: [String(i % USERS)] },
      {
        name: 'urn:oid:1.3.6.1.4.1.5923.1.1.1.1',
        friendlyName: 'eduPersonAffiliation',
        values: ['member', 'staff'],
      },
      {
        name: 'urn:oid:1.3.6.1.4.1.5923.1.5.1.1',
        friendlyName: 'isMemberOf',
        values: ['engineering', 'all'],
      },
      { name: 'urn:oid:2.5.4.11', friendlyName: 'ou', values: ['R&D'] },
      { name: 'urn:oid:0.9.2342.19200300.100.1.1', friendlyName: 'uid', values: [user] },
    ],
  }).samlResponse;
}

type Run = (samlResponse: string) => Promise<boolean>;

/**
 * Runs every implementation on every message, interleaved (message by message, rotating which
 * goes first), so load changes on a shared machine hit all of them alike. perSec is 1000 over
 * the mean latency of one validation.
 */
async function measure(inputs: readonly string[], impls: readonly [string, Run][]): Promise<Row[]> {
  const latencies = impls.map(() => [] as number[]);
  const errors = impls.map(() => 0);
  const started = performance.now();
  for (const [i, input] of inputs.entries()) {
    if (performance.now() - started > BUDGET_MS) break;
    for (let k = 0; k < impls.length; k++) {
      const j = (i + k) % impls.length;
      const run = impls[j]![1];
      const t = performance.now();
      try {
        if (!(await run(input))) errors[j]! += 1;
      } catch {
        errors[j]! += 1;
      }
      latencies[j]!.push(performance.now() - t);
    }
  }
  return impls.map(([impl], j) => {
    const sorted = [...latencies[j]!].sort((a, b) => a - b);
    const at = (q: number): number =>
      sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    const mean = sorted.reduce((sum, x) => sum + x, 0) / Math.max(1, sorted.length);
    const round = (x: number): number => Math.round(x * 1000) / 1000;
    return {
      impl,
      perSec: Math.round((1000 / mean) * 10) / 10,
      p50Ms: round(at(0.5)),
      p99Ms: round(at(0.99)),
      errors: errors[j]!,
    };
  });
}

async function main(): Promise<void> {
  process.stderr.write(`signing ${WARMUP + MESSAGES} responses...\n`);
  const warmup = Array.from({ length: WARMUP }, (_, i) => message(i));
  const measured = Array.from({ length: MESSAGES }, (_, i) => message(WARMUP + i));

  const backend = new SamlBackend({
    users: new MemoryUserStore(),
    replayStore: new MemoryKeyValueStore(),
    sp: { entityId: SP_ENTITY_ID, baseUrl: 'https://sp.example.com' },
    idps: [
      {
        id: 'bench',
        entityId: idp.entityId,
        ssoUrl: 'https://idp.example.com/sso',
        signingCerts: [idp.keys.certPem],
        allowIdpInitiated: true,
      },
    ],
    attributes: {
      email: { name: 'urn:oid:0.9.2342.19200300.100.1.3' },
      displayName: { name: 'urn:oid:2.16.840.1.113730.3.1.241' },
      groups: { name: 'urn:oid:1.3.6.1.4.1.5923.1.5.1.1' },
    },
  });
  const authbridge = async (samlResponse: string): Promise<boolean> =>
    (await backend.authenticate(undefined, { idp: 'bench', samlResponse })) !== null;

  const samlOptions = {
    callbackUrl: ACS_URL,
    issuer: SP_ENTITY_ID,
    audience: SP_ENTITY_ID,
    idpCert: idp.keys.certPem,
    idpIssuer: idp.entityId,
    acceptedClockSkewMs: 120_000,
    validateInResponseTo: ValidateInResponseTo.never,
  };
  const raw = new SAML(samlOptions);
  const nodeSamlRaw = async (samlResponse: string): Promise<boolean> =>
    (await raw.validatePostResponseAsync({ SAMLResponse: samlResponse })).profile !== null;

  const verify: VerifyWithoutRequest = (profile, done) => {
    done(null, profile ?? undefined);
  };
  const strategy = new SamlStrategy(samlOptions, verify, verify);
  const passport = (samlResponse: string): Promise<boolean> =>
    new Promise((resolve) => {
      const s = Object.create(strategy) as SamlStrategy & {
        success(user: unknown): void;
        fail(): void;
        error(err: unknown): void;
      };
      s.success = (user) => {
        resolve(user !== undefined);
      };
      s.fail = () => {
        resolve(false);
      };
      s.error = () => {
        resolve(false);
      };
      s.authenticate(
        { body: { SAMLResponse: samlResponse }, query: {}, url: '/acs', method: 'POST' } as never,
        {},
      );
    });

  // Warm-up: every implementation sees the warm-up messages first (authbridge only once each).
  for (const input of warmup) {
    await authbridge(input);
    await nodeSamlRaw(input);
    await passport(input);
  }
  const rows = await measure(measured, [
    ['authbridge', authbridge],
    ['node-saml-raw', nodeSamlRaw],
    ['passport-saml', passport],
  ]);
  await backend.close();
  const rawRow = rows.find((r) => r.impl === 'node-saml-raw')!;
  const ours = rows.find((r) => r.impl === 'authbridge')!;
  process.stderr.write(
    `authbridge / node-saml-raw = ${(ours.perSec / rawRow.perSec).toFixed(3)} (target >= 0.85)\n`,
  );
  process.stdout.write(`${JSON.stringify({ suite: 'saml', results: rows })}\n`);
}

await main();
