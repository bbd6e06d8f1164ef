import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { canConnect } from './wait-for.js';

let cached: Promise<boolean> | undefined;

/**
 * Whether a Docker-compatible engine answers, checked cheaply and cached per process.
 *
 * Loading testcontainers and letting it probe costs hundreds of milliseconds and can wait for
 * seconds on a dead socket, so this only pings the engine's API (`GET /_ping`) on the unix
 * sockets testcontainers would try, or TCP-connects to a `tcp://` `DOCKER_HOST`, with a short
 * timeout. `TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE` is honoured too.
 */
export function dockerAvailable(): Promise<boolean> {
  cached ??= probe();
  return cached;
}

async function probe(): Promise<boolean> {
  const dockerHost = process.env['DOCKER_HOST'];
  if (dockerHost?.startsWith('tcp://')) {
    const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
    return canConnect(url.hostname, Number(url.port || 2375), 500);
  }
  const sockets = [
    dockerHost?.startsWith('unix://') ? dockerHost.slice('unix://'.length) : undefined,
    process.env['TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE'],
    '/var/run/docker.sock',
    join(homedir(), '.docker', 'run', 'docker.sock'),
    process.env['XDG_RUNTIME_DIR'] && join(process.env['XDG_RUNTIME_DIR'], 'docker.sock'),
  ].filter((path): path is string => typeof path === 'string' && path !== '' && existsSync(path));
  for (const socketPath of sockets) {
    if (await ping(socketPath)) return true;
  }
  return false;
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 500 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.on('error', () => {
      resolve(false);
    });
    req.end();
  });
}
