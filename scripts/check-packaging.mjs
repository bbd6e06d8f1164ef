// Packaging checks for every workspace package: publint (on the packed file list, after the build),
// the engines range, sideEffects and an exports map. Exits non-zero on any problem.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const root = join(import.meta.dirname, '..');
const problems = [];
let checked = 0;

for (const dir of readdirSync(join(root, 'packages'))) {
  const pkgDir = join(root, 'packages', dir);
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  if (pkg.engines?.node !== '>=22.12') problems.push(`${pkg.name}: engines.node must be ">=22.12"`);
  if (pkg.type !== 'module') problems.push(`${pkg.name}: type must be "module"`);
  if (pkg.private) continue;
  checked += 1;
  if (pkg.sideEffects !== false) problems.push(`${pkg.name}: sideEffects must be false`);
  if (!pkg.exports || !Array.isArray(pkg.files))
    problems.push(`${pkg.name}: needs an exports map and a files whitelist`);
  const { messages } = await publint({ pkgDir, level: 'suggestion', strict: true, pack: 'npm' });
  for (const message of messages)
    problems.push(`${pkg.name}: ${formatMessage(message, pkg) ?? message.code}`);
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(
  `packaging: ${checked} published packages clean (publint strict), engines checked for all`,
);
