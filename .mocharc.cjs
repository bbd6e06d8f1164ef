// One mocha config for the whole monorepo. tsx loads the TypeScript tests; the root hooks check
// the runtime and that no test server outlives the suite.
module.exports = {
  'node-option': ['import=tsx'],
  require: ['test/setup/root-hooks.ts'],
  extension: ['ts'],
  timeout: 10000,
  forbidOnly: Boolean(process.env.CI),
};
