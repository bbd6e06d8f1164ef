import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { findExecutable } from './find-executable.js';
import { registerLiveServer } from './live-servers.js';
import { runCommand } from './run-command.js';

/** Where `ip netns` keeps the bind mounts that hold named namespaces alive. */
const NETNS_DIR = '/run/netns';

/**
 * A private network namespace for one server, joined to this host by a veth pair on a /30 in
 * 169.254.0.0/16 (link-local: never routed beyond this machine). The server inside can bind
 * whatever fixed ports it insists on (Samba: 389 and 636) without clashing with the host or
 * with other servers; this host reaches it at {@link NetworkNamespace.address}.
 */
export interface NetworkNamespace {
  /** The `ip netns` name: `authbridge-<kind>-<owner pid>-<subnet>`. */
  readonly name: string;
  /** The server's address inside the namespace (the veth end named `eth0` there). */
  readonly address: string;
  /** This host's end of the veth pair, e.g. `abns1f2c`. */
  readonly hostInterface: string;
  /** This host's address on {@link NetworkNamespace.hostInterface}. */
  readonly hostAddress: string;
  /** Pids of every process inside the namespace (read from /proc, synchronously). */
  pids(): number[];
  /** Sends `signal` to every process inside the namespace; vanished processes are ignored. */
  signalAll(signal: NodeJS.Signals): void;
  /**
   * SIGKILLs everything inside, deletes the veth pair and the namespace, and stops tracking it.
   * Idempotent; resolves once no process is left inside (or after 5 s).
   */
  destroy(): Promise<void>;
}

/** The `ip` binary (iproute2), or an error naming the package. */
function ipBinary(): string {
  const ip = findExecutable('ip');
  if (ip === undefined) throw new Error('ip is not installed (apt-get install iproute2)');
  return ip;
}

/**
 * Subnet `index` (0..16383) is 169.254.(index >> 6).((index & 63) * 4)/30: .1 is the host's
 * end, .2 the namespace's. 169.254.0.0/24 and 169.254.255.0/24 are reserved (RFC 3927) and
 * 169.254.169.0/24 holds cloud metadata services, so those third octets are never picked.
 */
function subnetAddresses(index: number): { host: string; inside: string } {
  const third = index >> 6;
  const fourth = (index & 63) * 4;
  return { host: `169.254.${third}.${fourth + 1}`, inside: `169.254.${third}.${fourth + 2}` };
}

function randomSubnetIndex(): number {
  for (;;) {
    const index = randomInt(64, 255 * 64);
    const third = index >> 6;
    if (third !== 169) return index;
  }
}

/** The 169.254 /30 subnets (as indexes) that interfaces of this host already use. */
async function usedSubnetIndexes(ip: string): Promise<Set<number>> {
  const { stdout } = await runCommand(ip, ['-4', '-o', 'addr', 'show']);
  const used = new Set<number>();
  for (const match of stdout.matchAll(/inet 169\.254\.(\d+)\.(\d+)/g)) {
    used.add(Number(match[1]) * 64 + (Number(match[2]) >> 2));
  }
  return used;
}

/** The inode of a namespace's nsfs file: what `/proc/<pid>/ns/net` links to (`net:[inode]`). */
function namespaceInode(name: string): number {
  return statSync(`${NETNS_DIR}/${name}`).ino;
}

/** Every pid whose network namespace has inode `inode`; /proc is scanned synchronously. */
function pidsInNamespace(inode: number): number[] {
  const link = `net:[${inode}]`;
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) === link) pids.push(Number(entry));
    } catch {
      // Exited meanwhile, or a kernel thread we may not inspect.
    }
  }
  return pids;
}

function signalPids(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Gone already.
    }
  }
}

/**
 * Best-effort synchronous teardown, for the exit and signal handlers (where promises never
 * settle) and for the stale sweep. Deleting either veth end deletes the pair; deleting the
 * namespace name drops the last reference once the SIGKILLed processes are reaped.
 */
function destroySync(ip: string, name: string, hostInterface: string, inode: number): void {
  signalPids(pidsInNamespace(inode), 'SIGKILL');
  for (const args of [
    ['link', 'del', hostInterface],
    ['netns', 'del', name],
  ]) {
    try {
      execFileSync(ip, args, { stdio: 'ignore', timeout: 5000 });
    } catch {
      // Already gone.
    }
  }
}

const sweptKinds = new Set<string>();

/**
 * Once per process and kind: delete namespaces (and their veth pairs) left behind by test
 * processes that died without cleaning up. A SIGKILLed test process takes its servers with it
 * (parent-death signal) but not the namespace, which a bind mount under /run/netns keeps
 * alive. Only namespaces whose owner pid (part of the name) is gone are touched.
 */
export function sweepStaleNamespaces(kind: string): void {
  if (sweptKinds.has(kind)) return;
  sweptKinds.add(kind);
  const ip = findExecutable('ip');
  if (ip === undefined) return;
  let names: string[];
  try {
    names = readdirSync(NETNS_DIR);
  } catch {
    return;
  }
  const pattern = new RegExp(`^authbridge-${kind}-(\\d+)-([0-9a-f]{4})$`);
  for (const name of names) {
    const match = pattern.exec(name);
    if (match === null) continue;
    const owner = Number(match[1]);
    if (isAlive(owner)) continue;
    let inode: number;
    try {
      inode = namespaceInode(name);
    } catch {
      continue;
    }
    destroySync(ip, name, `abns${match[2] ?? ''}`, inode);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Attempts at finding a free subnet; each failure is a race with a concurrent test process. */
const CREATE_ATTEMPTS = 8;

/**
 * Creates a network namespace with loopback up and a veth pair to this host, and registers it
 * with `liveServers()` (kind `<kind>-netns`) so that the exit and signal handlers delete it
 * even when the test process dies abruptly.
 *
 * The host-side interface is named after the subnet (`abns<4 hex digits>`) and interface names
 * are unique, so creating it claims the subnet atomically: two test processes never share one.
 * Needs CAP_SYS_ADMIN and CAP_NET_ADMIN (root, in practice).
 *
 * @param kind - the server kind, part of the namespace name (for the stale sweep)
 * @param dir - the server's directory, reported by `liveServers()` for this entry
 */
export async function createNetworkNamespace(kind: string, dir: string): Promise<NetworkNamespace> {
  const ip = ipBinary();
  sweepStaleNamespaces(kind);
  const used = await usedSubnetIndexes(ip);
  for (let attempt = 1; ; attempt++) {
    let index = randomSubnetIndex();
    while (used.has(index)) index = randomSubnetIndex();
    used.add(index);
    const suffix = index.toString(16).padStart(4, '0');
    const name = `authbridge-${kind}-${process.pid}-${suffix}`;
    const hostInterface = `abns${suffix}`;
    const { host, inside } = subnetAddresses(index);
    try {
      await runCommand(ip, ['netns', 'add', name]);
    } catch (error) {
      if (attempt < CREATE_ATTEMPTS && /File exists/.test(String(error))) continue;
      throw error;
    }
    let inode = -1;
    try {
      inode = namespaceInode(name);
      await runCommand(ip, [
        ...['link', 'add', hostInterface, 'type', 'veth'],
        ...['peer', 'name', 'eth0', 'netns', name],
      ]);
    } catch (error) {
      destroySync(ip, name, hostInterface, inode);
      if (attempt < CREATE_ATTEMPTS && /File exists/.test(String(error))) continue;
      throw error;
    }
    return setUp(ip, { name, hostInterface, host, inside, inode, dir, kind });
  }
}

async function setUp(
  ip: string,
  spec: {
    name: string;
    hostInterface: string;
    host: string;
    inside: string;
    inode: number;
    dir: string;
    kind: string;
  },
): Promise<NetworkNamespace> {
  const { name, hostInterface, inode } = spec;
  const unregister = registerLiveServer({
    kind: `${spec.kind}-netns`,
    dir: spec.dir,
    pid: () => undefined,
    killSync: () => {
      destroySync(ip, name, hostInterface, inode);
    },
  });
  let destroying: Promise<void> | undefined;
  const namespace: NetworkNamespace = {
    name,
    address: spec.inside,
    hostInterface,
    hostAddress: spec.host,
    pids: () => pidsInNamespace(inode),
    signalAll: (signal) => {
      signalPids(pidsInNamespace(inode), signal);
    },
    destroy() {
      destroying ??= (async () => {
        try {
          signalPids(pidsInNamespace(inode), 'SIGKILL');
          const deadline = Date.now() + 5000;
          while (pidsInNamespace(inode).length > 0 && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          await runCommand(ip, ['link', 'del', hostInterface]).catch(() => undefined);
          await runCommand(ip, ['netns', 'del', name]).catch(() => undefined);
        } finally {
          unregister();
        }
      })();
      return destroying;
    },
  };
  try {
    await runCommand(ip, ['addr', 'add', `${spec.host}/30`, 'dev', hostInterface]);
    await runCommand(ip, ['link', 'set', hostInterface, 'up']);
    await runCommand(ip, ['-n', name, 'addr', 'add', `${spec.inside}/30`, 'dev', 'eth0']);
    await runCommand(ip, ['-n', name, 'link', 'set', 'eth0', 'up']);
    await runCommand(ip, ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    await namespace.destroy();
    throw error;
  }
  return namespace;
}

/** The command line that runs `command args...` inside namespace `name` (`ip netns exec`). */
export function inNamespace(
  name: string,
  command: string,
  args: readonly string[],
): [string, string[]] {
  // `ip netns exec` execs the command directly (no fork), so the pid spawnServer tracks, and the
  // parent-death signal set by setpriv, belong to the server itself.
  return [ipBinary(), ['netns', 'exec', name, command, ...args]];
}

let probe: Promise<boolean> | undefined;

/**
 * Whether this process may create network namespaces and veth pairs: tried once (a throwaway
 * namespace is created and deleted) and cached.
 */
export function networkNamespacesAvailable(): Promise<boolean> {
  probe ??= (async () => {
    if (process.platform !== 'linux') return false;
    const ip = findExecutable('ip');
    if (ip === undefined) return false;
    // Named like a server's namespace, so that the sweep removes it if this process dies
    // between the two commands.
    sweepStaleNamespaces('probe');
    const suffix = randomInt(0x10000).toString(16).padStart(4, '0');
    const name = `authbridge-probe-${process.pid}-${suffix}`;
    try {
      await runCommand(ip, ['netns', 'add', name], { timeoutMs: 5000 });
    } catch {
      return false;
    }
    await runCommand(ip, ['netns', 'del', name], { timeoutMs: 5000 }).catch(() => undefined);
    return true;
  })();
  return probe;
}
