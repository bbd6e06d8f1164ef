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
  return isSet(env['CI']);
}

// A flag variable: anything except unset, empty, `false` or `0`.
function isSet(raw: string | undefined): boolean {
  const value = raw?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

/**
 * Whether a missing server may skip its tests: only when asked for with
 * `AUTHBRIDGE_SKIP_MISSING_SERVERS=1`, and never on CI. By default a missing server fails its
 * tests: a skipped integration test leaves a run green that proved nothing.
 */
function skipMissingServersAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return !isCI(env) && isSet(env['AUTHBRIDGE_SKIP_MISSING_SERVERS']);
}

/**
 * Gate an integration test on a real server being available.
 *
 * A missing server fails the test, naming what to install — on CI and locally alike. A laptop
 * without slapd can still run the rest of the suite with `AUTHBRIDGE_SKIP_MISSING_SERVERS=1`
 * (ignored when `CI` is set), which skips those tests instead; mocha reports them as pending.
 *
 * @param ctx - the mocha context (`this` inside a `function () {}` test or hook)
 * @param available - the result of a check such as {@link slapdAvailable}
 * @param what - what is missing and how to get it, e.g. `'OpenLDAP slapd (apt-get install slapd ldap-utils)'`
 * @throws Error when `available` is false and skipping is not allowed
 */
export function requireServer(ctx: SkippableContext, available: boolean, what: string): void {
  if (available) return;
  if (!skipMissingServersAllowed()) {
    throw new Error(
      `Required test server is not available: ${what}. Install it, or set ` +
        `AUTHBRIDGE_SKIP_MISSING_SERVERS=1 (not on CI) to skip the tests that need it.`,
    );
  }
  ctx.skip();
}
