import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

/**
 * The suite in three projects, by what a test needs (npm run test:unit, test:integration,
 * test:e2e; npm test runs all three):
 * - unit: no process, no socket;
 * - integration: the app through fetch, or over real HTTP on loopback;
 * - e2e: real Litestream, the S3 emulator, etcd, nginx, Chromium, the soak, the bench.
 */
const E2E = [
  'test/replication/**/*.test.ts',
  'test/failover/**/*.test.ts',
  'test/cluster/**/*.test.ts',
  'test/durability/replicated.test.ts',
  'test/bench/**/*.test.ts',
  'test/security/soak.test.ts',
  'test/ecosystem/graphiql.test.ts',
  'test/ecosystem/cors-browser.test.ts',
  'test/ecosystem/nginx-cache.test.ts',
  'test/ecosystem/web-example.test.ts',
  'test/ecosystem/web-example-nodes.test.ts',
];
/**
 * Under test/unit/ but they run a process, so not unit tests: the launcher builds in a tree of
 * its own; the follower's restores run the Litestream binary (no server, still a process).
 */
const UNIT_EXCEPTIONS = ['test/unit/launcher.test.ts', 'test/unit/follower.test.ts'];

export default defineConfig({
  resolve: {
    // graphql ships CJS and ESM builds; Yoga loads the CJS one. One copy means one GraphQLError
    // class, so Yoga recognizes the errors our resolvers throw instead of masking them.
    alias: { graphql: createRequire(import.meta.url).resolve('graphql') },
  },
  test: {
    // better-sqlite3 is a native addon: separate processes keep each file's handles apart.
    pool: 'forks',
    // The tests that spawn bin/reviews-api.js run the compiled dist/ (built once, up front);
    // the run ends with the list of tests skipped for a missing system program.
    globalSetup: ['test/support/build.ts', 'test/support/skipped-programs.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], exclude: UNIT_EXCEPTIONS } },
      // Everything else: a new test directory is run somewhere without being listed here.
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/!(launcher|follower).test.ts', ...E2E],
        },
      },
      { extends: true, test: { name: 'e2e', include: E2E } },
    ],
  },
});
