/**
 * The `authbridge` command: `serve --config <file>` and `check-config <file>`.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import { parseArgs } from 'node:util';
import { checkConfig } from './check-config.js';
import { loadConfigFile } from './config/load-config.js';
import { createApp } from './create-app.js';
import { listen, type RunningHost } from './serve.js';

const USAGE = `usage:
  authbridge serve --config <file>     start the host
  authbridge check-config <file>       validate a configuration file and exit`;

/** Runs the CLI; resolves to the process exit code (serve resolves only after shutdown). */
export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'check-config') {
      const [file] = rest;
      if (!file || rest.length !== 1) return usage();
      await checkConfig(await loadConfigFile(file, env));
      process.stdout.write(`${file}: configuration is valid\n`);
      return 0;
    }
    if (command === 'serve') {
      let config: string | undefined;
      try {
        config = parseArgs({
          args: [...rest],
          options: { config: { type: 'string' } },
          strict: true,
        }).values.config;
      } catch {
        // An unknown or malformed flag is a usage error, not a crash.
        return usage();
      }
      if (!config) return usage();
      return await serve(config, env);
    }
    return usage();
  } catch (error) {
    if (error instanceof AuthBridgeError && error.code === 'CONFIG_INVALID') {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    // A start-up failure the operator can act on (a store that does not open, node:sqlite
    // missing): one line with the private detail, which only the operator sees here.
    if (error instanceof AuthBridgeError) {
      process.stderr.write(`authbridge: ${error.code}: ${error.detail ?? error.message}\n`);
      return EX_UNAVAILABLE;
    }
    throw error;
  }
}

// sysexits(3): a service the command needs is unavailable.
const EX_UNAVAILABLE = 69;

async function serve(file: string, env: NodeJS.ProcessEnv): Promise<number> {
  const config = await loadConfigFile(file, env);
  const app = await createApp(config);
  let host: RunningHost;
  try {
    host = await listen(app, config.server.host, config.server.port);
  } catch (error) {
    // Port taken, no permission, no such address: one line, and what createApp opened is closed.
    await app.close().catch(() => undefined);
    const code = (error as { code?: unknown }).code;
    process.stderr.write(
      `authbridge: cannot listen on ${config.server.host}:${String(config.server.port)}: ` +
        `${typeof code === 'string' ? code : String(error)}\n`,
    );
    return EX_UNAVAILABLE;
  }
  process.stdout.write(`authbridge listening on ${host.url}\n`);
  const clean = await new Promise<boolean>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      host.shutdown(config.server.shutdownTimeoutMs).then(
        () => {
          resolve(true);
        },
        (error: unknown) => {
          // A backend or store that fails to close: said, and the exit status says so too.
          process.stderr.write(`authbridge: shutdown: ${String(error)}\n`);
          resolve(false);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  process.stdout.write('authbridge stopped\n');
  return clean ? 0 : 1;
}

function usage(): number {
  process.stderr.write(`${USAGE}\n`);
  return 64;
}
