import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure logic, beside the code, no servers) and `integration`
// (test/ folders, and e2e/ where several services run together, against the real test bed
// that the global setup brings up or reuses).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{libs,services,tools,testbed,bench}/*/src/**/*.test.ts',
            '{testbed,bench}/src/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: [
            '{libs,services,tools}/*/test/**/*.test.ts',
            'testbed/test/**/*.test.ts',
            'deploy/test/**/*.test.ts',
            'bench/test/**/*.test.ts',
            'e2e/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**'],
          globalSetup: ['testbed/src/vitest-global-setup.ts'],
          // One file at a time: the test bed (apiserver, etcd, kwok, NATS, Redis), the
          // services under test and vitest share 2 cores; files running side by side
          // starved the apiserver into timeouts. Files still isolate themselves, so they
          // can share a test bed with other runs.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
