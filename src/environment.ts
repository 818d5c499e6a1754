/**
 * Environment gating: the browser's network and page-lifecycle events, turned
 * into machine events. The targets are injectable, so tests (and non-browser
 * hosts) drive it with plain event targets.
 *
 * | platform event | machine event |
 * |---|---|
 * | window `offline` / `online` | `network.offline` / `network.online` |
 * | document `visibilitychange` (hidden / visible) | `page.hidden` / `page.visible` |
 * | window `pagehide` with `persisted` (enters the back-forward cache) | `page.suspended` |
 * | window `pageshow` with `persisted` (restored from it) | `page.resumed` |
 */
import type { ConnectionEvent } from '../machines/connection.types.js';

interface Listenable {
  addEventListener(type: string, listener: (event: { persisted?: boolean }) => void): void;
  removeEventListener(type: string, listener: (event: { persisted?: boolean }) => void): void;
}

export interface EnvironmentTargets {
  /** Receives `online`, `offline`, `pagehide`, `pageshow` (the browser's `window`). */
  window?: Listenable;
  /** Receives `visibilitychange` and has `visibilityState` (the browser's `document`). */
  document?: Listenable & { readonly visibilityState?: string };
  /** Has `onLine` (the browser's `navigator`). */
  navigator?: { readonly onLine?: boolean };
}

export type EnvironmentEvent = Extract<ConnectionEvent, { type: `network.${string}` | `page.${string}` }>;

/** The browser's globals where they exist; nothing in Node. */
export function platformEnvironment(): EnvironmentTargets {
  const g = globalThis as { window?: Listenable; document?: EnvironmentTargets['document']; navigator?: { onLine?: boolean } };
  const targets: EnvironmentTargets = {};
  if (g.window && typeof g.window.addEventListener === 'function') targets.window = g.window;
  if (g.document && typeof g.document.addEventListener === 'function') targets.document = g.document;
  if (g.navigator) targets.navigator = g.navigator;
  return targets;
}

/** What the environment says right now: the machine's starting point. */
export function environmentState(targets: EnvironmentTargets): { online: boolean; pageHidden: boolean } {
  return {
    online: targets.navigator?.onLine !== false,
    pageHidden: targets.document?.visibilityState === 'hidden',
  };
}

/** Forwards the environment's events to `send`; returns a function that stops listening. */
/** What watching nothing returns (Node, a worker): one function for every connection. */
const watchNothing = () => {};

export function watchEnvironment(targets: EnvironmentTargets, send: (event: EnvironmentEvent) => void): () => void {
  // nothing to listen to: no closures, no array kept per connection (heap per connection, issue 15)
  if (targets.window === undefined && targets.document === undefined) return watchNothing;
  const removers: Array<() => void> = [];
  const listen = (target: Listenable | undefined, type: string, handler: (event: { persisted?: boolean }) => void) => {
    if (target === undefined) return;
    target.addEventListener(type, handler);
    removers.push(() => target.removeEventListener(type, handler));
  };
  listen(targets.window, 'offline', () => send({ type: 'network.offline' }));
  listen(targets.window, 'online', () => send({ type: 'network.online' }));
  listen(targets.document, 'visibilitychange', () =>
    send({ type: targets.document?.visibilityState === 'hidden' ? 'page.hidden' : 'page.visible' }),
  );
  // Only a persisted pagehide can come back; a plain unload needs nothing from us.
  listen(targets.window, 'pagehide', (event) => {
    if (event.persisted) send({ type: 'page.suspended' });
  });
  listen(targets.window, 'pageshow', (event) => {
    if (event.persisted) send({ type: 'page.resumed' });
  });
  return () => {
    for (const remove of removers.splice(0)) remove();
  };
}
