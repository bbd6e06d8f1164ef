/**
 * `@authbridge/server`: the reference host.
 *
 * @packageDocumentation
 */
export { type CreateAppOptions, createApp, type HostApp, type HostState } from './create-app.js';
export { loadConfigFile, parseConfig } from './config/load-config.js';
export { type BackendConfig, configSchema, type HostConfig } from './config/schema.js';
export { interpolateEnv } from './config/interpolate.js';
export { checkConfig } from './check-config.js';
export { main } from './cli.js';
export { listen, type RunningHost } from './serve.js';
