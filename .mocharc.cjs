// One mocha config for the whole monorepo. tsx loads the TypeScript tests; the root hooks check
// the runtime and that no test server outlives the suite.
module.exports = {
  'node-option': ['import=tsx'],
  require: ['test/setup/root-hooks.ts'],
  extension: ['ts'],
  timeout: 10000,
  forbidOnly: Boolean(process.env.CI),
  // Exit once the run is reported. Leaks are still caught: the root hooks fail the suite when a
  // test server outlives it. Without this, one full run on Node 24 hung after its summary with the
  // main thread spinning in libuv's exit-time handle cleanup (seen once, not reproduced since),
  // and a hung CI run is worse than an unexplained fast exit.
  exit: true,
};
