import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** React 18 for the hook tests: installed apart, in test/react18 (its own react and react-dom 18). */
const react18 = (path: string) => fileURLToPath(new URL(`./test/react18/node_modules/${path}`, import.meta.url));

export default defineConfig({
  test: {
    testTimeout: 20_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          globalSetup: ['test/support/build-assets.ts'],
          include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
          exclude: ['test/browser/**', '**/node_modules/**'],
        },
      },
      {
        // The hook tests again on React 18 (`statesocket/react`'s peer range is ^18 || ^19). The
        // imports of react and react-dom are aliased to React 18, Testing Library's too (inlined,
        // so its imports go through the aliases); react-dom 18 requires its sibling React 18.
        extends: true,
        resolve: {
          alias: [
            { find: /^react$/, replacement: react18('react/index.js') },
            { find: /^react\/(.*)$/, replacement: react18('react/$1.js') },
            { find: /^react-dom$/, replacement: react18('react-dom/index.js') },
            { find: /^react-dom\/(.*)$/, replacement: react18('react-dom/$1.js') },
            // its ES module build (the CommonJS one would require the root React 19)
            { find: /^@testing-library\/react$/, replacement: fileURLToPath(new URL('./node_modules/@testing-library/react/dist/@testing-library/react.esm.js', import.meta.url)) },
          ],
        },
        test: {
          name: 'react-18',
          env: { STATESOCKET_TEST_REACT: '18' },
          include: ['test/react/**/*.test.tsx'],
          // <Activity> is React 19's
          exclude: ['test/react/activity.test.tsx'],
          server: { deps: { inline: ['@testing-library/react'] } },
        },
      },
    ],
  },
});
