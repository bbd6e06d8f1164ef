/**
 * Turns the configured chain into backend instances.
 *
 * @packageDocumentation
 */
import { type AnyAuthBackend, LocalPasswordBackend, type UserStore } from '@authbridge/core';
import type { BackendConfig } from './config/schema.js';

/** What backends may need from the host. */
export interface BackendContext {
  readonly userStore: UserStore;
}

type Builder<T extends BackendConfig['type']> = (
  config: Extract<BackendConfig, { type: T }>,
  context: BackendContext,
) => Promise<AnyAuthBackend>;

// One builder per backend type; a new type without a builder does not compile.
const BUILDERS: { readonly [T in BackendConfig['type']]: Builder<T> } = {
  local: async (config, context) => {
    const local = new LocalPasswordBackend({
      id: config.id,
      store: context.userStore,
      groupPermissions: config.groupPermissions,
    });
    for (const user of config.users) {
      // Existing accounts are left as they are: a password changed at runtime is not reset by a restart.
      if (await context.userStore.getByUsername(user.username)) continue;
      const { password, ...profile } = user;
      await local.createUser(profile, password);
    }
    return local;
  },
};

/** Builds every backend, in order, and creates the configured local accounts that are missing. */
export async function buildBackends(
  configs: readonly BackendConfig[],
  context: BackendContext,
): Promise<AnyAuthBackend[]> {
  const backends: AnyAuthBackend[] = [];
  for (const config of configs) {
    const build = BUILDERS[config.type];
    backends.push(await build(config, context));
  }
  return backends;
}
