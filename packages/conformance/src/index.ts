/**
 * `@authbridge/conformance`: the shared mocha suites every backend and store runs, and test helpers.
 *
 * @packageDocumentation
 */
export {
  type BackendConformanceFixture,
  type ConformanceSubject,
  type ConformanceUser,
  describeBackendConformance,
} from './backend-conformance.js';
export { expectRejection } from './expect-rejection.js';
export {
  describeKeyValueStoreConformance,
  type KeyValueStoreSubject,
} from './key-value-store-conformance.js';
export { describeUserStoreConformance, type UserStoreSubject } from './user-store-conformance.js';
