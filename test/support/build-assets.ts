/**
 * Vitest global setup: builds the browser app and the inspector page into
 * dist/www (scripts/build-assets.ts, as `npm run build` does), so the servers
 * that tests start, in process or as child processes, serve the current source.
 */
import { buildAssets } from '../../scripts/build-assets.js';

export default async function setup(): Promise<void> {
  await buildAssets();
}
