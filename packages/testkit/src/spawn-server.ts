import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable } from './find-executable.js';
import { registerLiveServer } from './live-servers.js';
import { SERVER_PID_FILE } from './server-dir.js';

/** How a server process ended. */
export interface ProcessExit {
  /** Exit status, `null` when killed by a signal. */
  readonly code: number | null;
  /** The signal that killed it, `null` when it exited. */
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  readonly error?: Error;
}

/** Options for {@link spawnServer}. */
export interface SpawnServerOptions {
  /** What kind of server this is, e.g. `'slapd'`; shown by `liveServers()`. */
  readonly kind: string;
  /** Absolute path of the server binary. */
  readonly command: string;
  /**
   * Arguments. The server must stay in the foreground (not daemonize), or it cannot be tracked.
   * A function is called on every spawn, so a harness can move to other ports and retry.
   */
  readonly args: readonly string[] | (() => readonly string[]);
  /** The server's private directory (from `makeServerDir`); deleted by {@link ServerProcess.dispose}. */
  readonly dir: string;
  /** Where stdout and stderr go (appended, so a restart continues the same log). Default `<dir>/server.log`. */
  readonly logFile?: string;
  /** Environment; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** How long {@link ServerProcess.terminate} waits after SIGTERM before SIGKILL. Default 5000 ms. */
  readonly stopTimeoutMs?: number;
}

/**
 * One server process, spawned and tracked with guaranteed teardown:
 *
 * - on Linux it runs under `setpriv --pdeathsig KILL`, so the kernel kills it when this process
 *   dies, even by SIGKILL, where no JavaScript runs;
 * - it is registered with `liveServers()`, whose `exit`/SIGINT/SIGTERM/SIGHUP handlers kill it
 *   synchronously and delete its directory;
 * - stdout and stderr go straight to a log file, not a pipe, so the server never blocks on a
 *   full pipe and the log survives a crash of the test process.
 *
 * The same directory and command line are reused by {@link ServerProcess.spawn} after a stop or
 * kill, which is how a server restarts on the same ports with the same data.
 */
export interface ServerProcess {
  /** See {@link SpawnServerOptions.kind}. */
  readonly kind: string;
  /** See {@link SpawnServerOptions.dir}. */
  readonly dir: string;
  /** The log file receiving the server's stdout and stderr. */
  readonly logFile: string;
  /** Pid of the running process; `undefined` while not running. */
  readonly pid: number | undefined;
  /** Whether a process is running (possibly paused). */
  readonly running: boolean;
  /** Settles when the current (or last) process ends. `undefined` before the first spawn. */
  readonly exited: Promise<ProcessExit> | undefined;
  /** Start the process again (after {@link ServerProcess.terminate} or {@link ServerProcess.kill}). */
  spawn(): void;
  /** SIGTERM, then SIGKILL after `stopTimeoutMs`; resolves once the process has exited. */
  terminate(): Promise<void>;
  /** SIGKILL; resolves once the process has exited. The directory is kept. */
  kill(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but answers nothing. */
  pause(): void;
  /** SIGCONT after {@link ServerProcess.pause}. */
  resume(): void;
  /** The whole log so far. */
  log(): Promise<string>;
  /** The last `lines` lines of the log, read synchronously (for error messages). */
  logTail(lines?: number): string;
  /** Terminate, unregister and delete the directory. Idempotent; concurrent calls share one promise. */
  dispose(): Promise<void>;
}

/**
 * Spawns a long-running server as a child process with guaranteed teardown (see
 * {@link ServerProcess}). Readiness is the caller's business: poll with `waitFor`/`canConnect`.
 * Reusable for any foreground server (slapd today; redis-server or postgres later).
 */
export function spawnServer(options: SpawnServerOptions): ServerProcess {
  const logFile = options.logFile ?? join(options.dir, 'server.log');
  const stopTimeoutMs = options.stopTimeoutMs ?? 5000;
  // setpriv (util-linux) sets PR_SET_PDEATHSIG and execs the server, so the pid we get is the
  // server's own and the death signal survives the exec. Without it (macOS, minimal images) the
  // exit/signal handlers still cover everything but SIGKILL of this process; the next run's
  // stale-directory sweep then kills the orphan.
  const setpriv = process.platform === 'linux' ? findExecutable('setpriv') : undefined;
  const commandLine = (): [string, string[]] => {
    const args = typeof options.args === 'function' ? options.args() : options.args;
    return setpriv === undefined
      ? [options.command, [...args]]
      : [setpriv, ['--pdeathsig', 'KILL', '--', options.command, ...args]];
  };

  let child: ChildProcess | undefined;
  let exited: Promise<ProcessExit> | undefined;
  let running = false;
  let paused = false;
  let disposing: Promise<void> | undefined;

  const signal = (name: NodeJS.Signals): void => {
    if (!running || child?.pid === undefined) return;
    try {
      process.kill(child.pid, name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };

  const unregister = registerLiveServer({
    kind: options.kind,
    dir: options.dir,
    pid: () => (running ? child?.pid : undefined),
    killSync: () => {
      signal('SIGKILL');
    },
  });

  const server: ServerProcess = {
    kind: options.kind,
    dir: options.dir,
    logFile,
    get pid() {
      return running ? child?.pid : undefined;
    },
    get running() {
      return running;
    },
    get exited() {
      return exited;
    },
    spawn() {
      if (running) throw new Error(`${options.kind} is already running (pid ${child?.pid})`);
      if (disposing) throw new Error(`${options.kind} has been stopped for good`);
      const [file, argv] = commandLine();
      const fd = openSync(logFile, 'a');
      try {
        child = spawn(file, argv, {
          cwd: options.dir,
          env: options.env ?? process.env,
          stdio: ['ignore', fd, fd],
        });
      } finally {
        // The child has its own copy of the descriptor.
        closeSync(fd);
      }
      running = true;
      paused = false;
      const current = child;
      exited = new Promise<ProcessExit>((resolve) => {
        current.once('exit', (code, exitSignal) => {
          if (child === current) running = false;
          resolve({ code, signal: exitSignal });
        });
        current.once('error', (error) => {
          // 'error' without a pid means the spawn itself failed and no 'exit' will follow.
          if (current.pid !== undefined) return;
          if (child === current) running = false;
          resolve({ code: null, signal: null, error });
        });
      });
      if (current.pid !== undefined)
        writeFileSync(join(options.dir, SERVER_PID_FILE), `${current.pid}\n`);
    },
    async terminate() {
      if (!running || exited === undefined) return;
      const done = exited;
      // A stopped process cannot act on SIGTERM until it is continued.
      if (paused) server.resume();
      signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => {
          resolve('timeout');
        }, stopTimeoutMs);
      });
      try {
        if ((await Promise.race([done, timedOut])) === 'timeout') {
          signal('SIGKILL');
          await done;
        }
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      if (!running || exited === undefined) return;
      const done = exited;
      signal('SIGKILL');
      await done;
    },
    pause() {
      signal('SIGSTOP');
      paused = running;
    },
    resume() {
      signal('SIGCONT');
      paused = false;
    },
    log() {
      return readFile(logFile, 'utf8').catch(() => '');
    },
    logTail(lines = 40) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '(no log)';
      }
    },
    dispose() {
      disposing ??= (async () => {
        try {
          await server.terminate();
        } finally {
          await rm(options.dir, { recursive: true, force: true });
          unregister();
        }
      })();
      return disposing;
    },
  };
  return server;
}
