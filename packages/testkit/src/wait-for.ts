import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Whether a TCP connection to host:port succeeds within `timeoutMs`. The connection is closed
 * straight away; this only proves something is listening.
 */
export function canConnect(host: string, port: number, timeoutMs = 250): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => {
      finish(false);
    });
    socket.once('connect', () => {
      finish(true);
    });
    socket.once('error', () => {
      finish(false);
    });
  });
}

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Absolute deadline (`Date.now()` milliseconds); `waitFor` rejects once it has passed. */
  readonly deadline: number;
  /** Pause between attempts. Default 20 ms: servers under test start in tens of milliseconds. */
  readonly intervalMs?: number;
  /** Describes what is awaited, for the timeout error. */
  readonly what: string;
}

/**
 * Polls `probe` until it returns true or the deadline passes. A probe that throws aborts the
 * wait with that error: use it to fail fast, e.g. when the server process has already exited.
 */
export async function waitFor(
  probe: () => Promise<boolean>,
  options: WaitForOptions,
): Promise<void> {
  for (;;) {
    if (await probe()) return;
    if (Date.now() >= options.deadline) throw new Error(`Timed out waiting for ${options.what}`);
    await sleep(options.intervalMs ?? 20);
  }
}
