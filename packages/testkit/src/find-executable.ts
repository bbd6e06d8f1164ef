import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Directories searched after `PATH`. Server binaries live in sbin, which is often missing from
 * an unprivileged user's `PATH` (Debian's slapd is /usr/sbin/slapd).
 */
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin'];

const cache = new Map<string, string | undefined>();

/**
 * Finds an executable by name on `PATH` or in the usual sbin directories, like `which`.
 * Results are cached per process: tests call this for every server they start.
 *
 * @returns the absolute path, or `undefined` when it is not installed
 */
export function findExecutable(name: string): string | undefined {
  if (cache.has(name)) return cache.get(name);
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  let found: string | undefined;
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) {
        found = candidate;
        break;
      }
    } catch {
      // Not here; keep looking.
    }
  }
  cache.set(name, found);
  return found;
}
