import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** File in a server directory naming the Node process that owns it. */
const OWNER_FILE = 'owner.pid';
/** File in a server directory naming the server process last spawned in it. */
export const SERVER_PID_FILE = 'server.pid';

/** The temp-directory prefix for a kind of server, e.g. `authbridge-slapd-`. */
export function serverDirPrefix(kind: string): string {
  return `authbridge-${kind}-`;
}

/**
 * Creates a private directory for one server under `os.tmpdir()`, named
 * `authbridge-<kind>-XXXXXX`, and records this process as its owner so that a later run can
 * tell an abandoned directory from one in use.
 */
export async function makeServerDir(kind: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), serverDirPrefix(kind)));
  await writeFile(join(dir, OWNER_FILE), `${process.pid}\n`);
  return dir;
}

const swept = new Set<string>();

/**
 * Once per process and kind: remove directories left behind by test processes that died
 * without cleaning up (SIGKILL, OOM, power loss), and kill their server if it survived (which
 * only happens where `setpriv` was unavailable).
 *
 * Only directories whose owner process is gone are touched, so concurrent test runs are safe;
 * a server pid is only killed if its command line names the abandoned directory, so a
 * recycled pid is never hit.
 */
export async function sweepStaleServerDirs(kind: string): Promise<void> {
  if (swept.has(kind)) return;
  swept.add(kind);
  const prefix = serverDirPrefix(kind);
  let names: string[];
  try {
    names = await readdir(tmpdir());
  } catch {
    return;
  }
  await Promise.all(
    names
      .filter((name) => name.startsWith(prefix))
      .map(async (name) => {
        const dir = join(tmpdir(), name);
        const owner = await readPid(join(dir, OWNER_FILE));
        if (owner === undefined || isAlive(owner)) return;
        const server = await readPid(join(dir, SERVER_PID_FILE));
        if (server !== undefined && commandLineMentions(server, dir)) {
          try {
            process.kill(server, 'SIGKILL');
          } catch {
            // Exited in the meantime.
          }
        }
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      }),
  );
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(file, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else, so it is alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandLineMentions(pid: number, text: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
  } catch {
    // No such process, or no /proc (macOS): never kill on a guess.
    return false;
  }
}
