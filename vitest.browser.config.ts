import { defineConfig } from 'vitest/config';

/**
 * Tests that drive a real Chromium (`npm run test:browser`): Debian's
 * `/usr/bin/chromium` through playwright-core, or the binary in CHROMIUM_PATH.
 * Kept out of `npm test` (see vitest.config.ts); a missing Chromium fails them.
 */
export default defineConfig({
  test: {
    globalSetup: ['test/support/build-assets.ts'],
    include: ['test/browser/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
