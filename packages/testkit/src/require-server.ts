/**
 * The part of a mocha test context {@link requireServer} needs. `Mocha.Context` satisfies it;
 * declaring it here keeps `@types/mocha` out of this package's public types.
 */
export interface SkippableContext {
  /** Marks the running test (or hook) as pending and aborts it. */
  skip(): never;
}

/**
 * Whether the environment says this is a CI run. `CI` is set by GitHub Actions, GitLab and most
 * other CI systems; `CI=false` and `CI=0` are treated as "not CI".
 */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env['CI']?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

/**
 * Gate an integration test on a real server being available.
 *
 * Locally a missing server skips the test, so a laptop without slapd can still run the suite.
 * On CI a missing server is a broken runner, and a skipped test would hide it behind a green
 * build: there it throws instead, naming what to install.
 *
 * @param ctx - the mocha context (`this` inside a `function () {}` test or hook)
 * @param available - the result of a check such as {@link slapdAvailable}
 * @param what - what is missing and how to get it, e.g. `'OpenLDAP slapd (apt-get install slapd ldap-utils)'`
 * @throws Error when `available` is false and `CI` is set
 */
export function requireServer(ctx: SkippableContext, available: boolean, what: string): void {
  if (available) return;
  if (isCI()) {
    throw new Error(
      `Required test server is not available: ${what}. CI is set, so this fails instead of ` +
        `skipping; install it on the CI runner.`,
    );
  }
  ctx.skip();
}
