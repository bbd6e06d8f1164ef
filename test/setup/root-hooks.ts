// Root hooks for every mocha run: the runtime is the pinned Node (never the system Node 20), and no
// test server (slapd, ...) outlives the suite.
import { liveServers } from '@authbridge/testkit';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);

export const mochaHooks = {
  beforeAll(): void {
    if (major < 22 || (major === 22 && minor < 12)) {
      throw new Error(
        `tests must run on Node >= 22.12 (the root devDependency node@24); this is ${process.version}. Run them through npm scripts.`,
      );
    }
  },
  afterAll(): void {
    const live = liveServers();
    if (live.length > 0) {
      throw new Error(
        `test servers left running: ${live.map((s) => `${s.kind} pid ${String(s.pid)} in ${s.dir}`).join(', ')}`,
      );
    }
  },
};
