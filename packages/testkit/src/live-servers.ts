import { rmSync } from 'node:fs';

/** A server started by this process and not yet stopped, as reported by {@link liveServers}. */
export interface LiveServer {
  /** What kind of server it is, e.g. `'slapd'`. */
  readonly kind: string;
  /** The OS process id while it runs natively; `undefined` for containers and killed servers. */
  readonly pid: number | undefined;
  /** The server's private temp directory (config, data, log). */
  readonly dir: string;
}

/**
 * How the registry tears one server down. Harnesses register one entry per server for as long
 * as it is started (killed-but-not-stopped servers included, their directory is still there).
 */
export interface LiveServerEntry {
  /** See {@link LiveServer.kind}. */
  readonly kind: string;
  /** See {@link LiveServer.dir}. */
  readonly dir: string;
  /** The current pid (it changes across restarts), `undefined` when not running. */
  pid(): number | undefined;
  /**
   * Kill the server now, synchronously. Called from the process `exit` event and from signal
   * handlers, where promises never settle: only synchronous calls do anything there.
   */
  killSync(): void;
}

/**
 * Signals we intercept while servers are alive, with the exit status a shell reports for a
 * process killed by them (128 + signal number). SIGKILL cannot be intercepted: that case is
 * covered by spawning servers under `setpriv --pdeathsig KILL` (see spawn-server.ts).
 */
const HANDLED_SIGNALS = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
type HandledSignal = keyof typeof HANDLED_SIGNALS;

const entries = new Set<LiveServerEntry>();
let handlersInstalled = false;

/** Servers started by this process and not yet stopped (a snapshot; empty when all are down). */
export function liveServers(): readonly LiveServer[] {
  return [...entries].map((entry) => ({ kind: entry.kind, pid: entry.pid(), dir: entry.dir }));
}

/**
 * Track a server until the returned function is called. While anything is tracked, process
 * `exit`, SIGINT, SIGTERM and SIGHUP kill every tracked server and delete its directory.
 *
 * @returns unregister; call it once the server is stopped and its directory removed
 */
export function registerLiveServer(entry: LiveServerEntry): () => void {
  entries.add(entry);
  installHandlers();
  return () => {
    entries.delete(entry);
    if (entries.size === 0) uninstallHandlers();
  };
}

/** Synchronously kill every tracked server and remove its directory; tolerant of all errors. */
export function killLiveServersSync(): void {
  for (const entry of [...entries]) {
    try {
      entry.killSync();
    } catch {
      // Already gone, or not ours to kill any more: nothing useful to do while exiting.
    }
    try {
      rmSync(entry.dir, { recursive: true, force: true });
    } catch {
      // Best effort: the stale-directory sweep of the next run removes what is left.
    }
    entries.delete(entry);
  }
  uninstallHandlers();
}

function onExit(): void {
  killLiveServersSync();
}

function onSignal(signal: NodeJS.Signals): void {
  killLiveServersSync();
  // Our listener is gone now. If nobody else listens, Node has restored the default action,
  // so re-raising terminates the process by that signal, exactly as if we had never been here
  // (the parent sees "killed by SIGINT", a shell prints 130). If someone else listens (mocha's
  // watch mode, an app's graceful shutdown), the signal is theirs to act on: re-raising would
  // cut their cleanup short.
  if (process.listenerCount(signal) > 0) return;
  process.kill(process.pid, signal);
  // Belt and braces in case the re-raised signal is blocked: exit with the conventional status.
  setTimeout(() => process.exit(HANDLED_SIGNALS[signal as HandledSignal]), 1000);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onExit);
  for (const signal of Object.keys(HANDLED_SIGNALS) as HandledSignal[])
    process.on(signal, onSignal);
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.off('exit', onExit);
  for (const signal of Object.keys(HANDLED_SIGNALS) as HandledSignal[])
    process.off(signal, onSignal);
}
