/**
 * A browser environment a test drives by hand: network and page-lifecycle
 * events on plain `EventTarget`s, for the `environment` option.
 */
import type { EnvironmentTargets } from '../environment.js';

export interface FakeEnvironment {
  /** Pass as `createConnection({ environment })`. */
  readonly targets: EnvironmentTargets;
  goOffline(): void;
  goOnline(): void;
  /** The tab is hidden (`visibilitychange` to hidden). */
  hide(): void;
  show(): void;
  /** The page enters the back-forward cache (`pagehide` with persisted). */
  suspend(): void;
  /** The page is restored from it (`pageshow` with persisted). */
  resume(): void;
}

export function createFakeEnvironment(initial: { online?: boolean; hidden?: boolean } = {}): FakeEnvironment {
  const window = new EventTarget();
  const document = Object.assign(new EventTarget(), { visibilityState: initial.hidden ? 'hidden' : 'visible' });
  const navigator = { onLine: initial.online ?? true };
  const fire = (target: EventTarget, type: string, persisted?: boolean) =>
    target.dispatchEvent(Object.assign(new Event(type), persisted === undefined ? {} : { persisted }));
  return {
    targets: { window, document, navigator } as unknown as EnvironmentTargets,
    goOffline() {
      navigator.onLine = false;
      fire(window, 'offline');
    },
    goOnline() {
      navigator.onLine = true;
      fire(window, 'online');
    },
    hide() {
      document.visibilityState = 'hidden';
      fire(document, 'visibilitychange');
    },
    show() {
      document.visibilityState = 'visible';
      fire(document, 'visibilitychange');
    },
    suspend: () => fire(window, 'pagehide', true),
    resume: () => fire(window, 'pageshow', true),
  };
}
