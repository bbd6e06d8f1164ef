/**
 * The mocha counterpart of jose's `t.throwsAsync(p, { code })`.
 *
 * @packageDocumentation
 */
import { AuthBridgeError, type AuthBridgeErrorCode } from '@authbridge/core';
import { expect } from 'chai';

/**
 * Awaits `promise`, fails the test if it resolves, and returns the rejection. With `code`, also
 * checks that it is an {@link AuthBridgeError} with that code.
 *
 * @example
 * ```ts
 * const err = await expectRejection(store.create({ username: 'a' }), 'IDENTITY_CONFLICT');
 * ```
 */
export async function expectRejection(
  promise: Promise<unknown>,
  code?: AuthBridgeErrorCode,
): Promise<unknown> {
  let settled: { value: unknown } | undefined;
  try {
    settled = { value: await promise };
  } catch (error) {
    if (code !== undefined) {
      expect(error, 'rejection').to.be.instanceOf(AuthBridgeError);
      expect((error as AuthBridgeError).code).to.equal(code);
    }
    return error;
  }
  expect.fail(
    `expected a rejection${code === undefined ? '' : ` with ${code}`}, got ${String(settled.value)}`,
  );
}
