import { defineConfig } from 'vitest/config';

// `source` resolves workspace packages to their TypeScript sources, so tests never run stale builds.
// One Temporal dev server (real, SQLite-backed) for the whole run: test/global-setup.ts.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/runtime-setup.ts'],
    env: { BYOK_LOG_LEVEL: 'warn' },
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default', ['json', { outputFile: '.reports/vitest.json' }]],
  },
});
