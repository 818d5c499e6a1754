/**
 * Which React the hook tests run on: React 19 in the `node` project, React 18 in the `react-18`
 * one (vitest.config.ts aliases react and react-dom to test/react18's). Both renderers agree.
 */
import { version } from 'react';
import { version as domVersion } from 'react-dom';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

const expected = process.env['STATESOCKET_TEST_REACT'] ?? '19';

describe(`the hook tests' React`, () => {
  it(`is React ${expected}, react-dom and react-dom/server with it`, () => {
    expect(version.split('.')[0]).toBe(expected);
    expect(domVersion).toBe(version);
    expect(renderToString(<b>{version}</b>)).toBe(`<b>${version}</b>`);
  });
});
