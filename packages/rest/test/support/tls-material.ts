// Throwaway PKI for the mTLS test, made with the openssl CLI: a CA, a server certificate for
// 127.0.0.1, and client certificates (one per common name). EC P-256 keys take milliseconds.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  readonly caPem: string;
  readonly server: { readonly certPem: string; readonly keyPem: string };
  readonly clients: Readonly<Record<string, { readonly certPem: string; readonly keyPem: string }>>;
}

/** Makes a CA (`caName`) issuing a server certificate and one client certificate per name. */
export async function makePki(
  clientNames: readonly string[],
  caName = 'authbridge test CA',
): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'authbridge-rest-pki-'));
  const path = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  try {
    await run('openssl', [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      path('ca.key'),
      '-out',
      path('ca.crt'),
      '-days',
      '2',
      '-subj',
      `/CN=${caName}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    const issue = async (
      name: string,
      ext: string,
    ): Promise<{ certPem: string; keyPem: string }> => {
      await run('openssl', [
        'req',
        '-new',
        ...ec,
        '-keyout',
        path(`${name}.key`),
        '-out',
        path(`${name}.csr`),
        '-subj',
        `/CN=${name}`,
      ]);
      await writeFile(path(`${name}.ext`), `${ext}\n`);
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        path(`${name}.csr`),
        '-CA',
        path('ca.crt'),
        '-CAkey',
        path('ca.key'),
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        path(`${name}.ext`),
        '-out',
        path(`${name}.crt`),
      ]);
      return {
        certPem: await readFile(path(`${name}.crt`), 'utf8'),
        keyPem: await readFile(path(`${name}.key`), 'utf8'),
      };
    };
    const server = await issue(
      'server',
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost',
    );
    const clients: Record<string, { certPem: string; keyPem: string }> = {};
    for (const name of clientNames) {
      clients[name] = await issue(
        name,
        'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth',
      );
    }
    return { caPem: await readFile(path('ca.crt'), 'utf8'), server, clients };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
