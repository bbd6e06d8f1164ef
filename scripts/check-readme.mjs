// Keeps README.md's custom-backend example identical to the file the tests run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const source = readFileSync(join(root, 'test/examples/api-key-backend.ts'), 'utf8');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const snippet = /\/\/ snippet:custom-backend \{\n([\s\S]*?)\/\/ \}\n/.exec(source)?.[1];
const block = /<!-- snippet:custom-backend -->\n\n```ts\n([\s\S]*?)```\n/.exec(readme)?.[1];
if (!snippet || !block) {
  console.error(
    'check-readme: snippet markers missing in test/examples/api-key-backend.ts or README.md',
  );
  process.exit(1);
}
if (snippet !== block) {
  console.error(
    'check-readme: README.md custom-backend example differs from test/examples/api-key-backend.ts',
  );
  process.exit(1);
}
console.log('check-readme: README example matches the tested file');
