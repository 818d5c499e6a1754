/**
 * Rendering: `view.render(model.getData(), status)` at most once per frame.
 * A change asks for a render; the scheduler coalesces every ask until it
 * flushes. A render is not a machine event: the count of renders is kept here
 * and shows in `status.counters.renders`. A class, so that a connection holds
 * one small object.
 */
import { catchRejection } from './callbacks.js';
import { describeThrown } from './errors.js';
import type { ErrorCode } from './errors.js';
import type { AnyModel, ConnectionStatus, RenderScheduler, View } from './types.js';

export interface RenderHost {
  /** The status to render with: the one of the last change (a connection's, or a channel's). */
  status(): ConnectionStatus | object;
  /** A render returned: the status's `renders` counter moved. */
  rendered(): void;
  /** A throw or rejection from the view, the Model or the scheduler (`status.lastCallbackError`). */
  failed(code: ErrorCode, message: string): void;
}

/**
 * Where a connection and each of its channel handles keep the connection's Renderer, for `onFrame`
 * (statesocket/react); not part of their public types.
 */
export const FRAMES = Symbol('statesocket.frames');

/** What `FRAMES` holds: the connection's renders to follow. */
export type FrameSource = Pick<Renderer, 'onFrame'>;

/**
 * The frame source of a connection or of a channel handle (its connection's): every change a view
 * could show, on any channel of the connection, is rendered on it at most once per frame.
 * @throws TypeError for anything but a connection from createConnection() or a channel handle from it
 */
export function frameSourceOf(target: object): FrameSource {
  const source = (target as { [FRAMES]?: FrameSource })[FRAMES];
  if (source === undefined) throw new TypeError('statesocket: expected a connection made by createConnection(), or one of its channels');
  return source;
}

export class Renderer {
  /** Calls to `view.render` that returned. */
  renders = 0;
  private cancel: (() => void) | null = null;
  private stopped = false;
  /** Called after every flush, with a view or without (statesocket/react's hooks); null until one is added. */
  private frames: Set<() => void> | null = null;

  constructor(
    private readonly view: View<never, never> | undefined,
    private readonly model: AnyModel,
    private readonly schedule: RenderScheduler,
    private readonly host: RenderHost,
  ) {}

  /** Asks for a render; one is already scheduled, nothing more happens. */
  request(): void {
    if ((this.view === undefined && !this.frames?.size) || this.cancel !== null || this.stopped) return;
    const fail = this.host.failed;
    try {
      const cancel: unknown = this.schedule(() => this.flush());
      // a cancel that is not a function (a promise, say) cancels nothing: stop() must not throw on it
      this.cancel = typeof cancel === 'function' ? (cancel as () => void) : () => {};
      catchRejection(cancel, (error) => fail('ERR_RENDER_FAILED', `the render scheduler rejected: ${describeThrown(error)}`));
    } catch (error) {
      this.cancel = null;
      fail('ERR_RENDER_FAILED', `the render scheduler threw: ${describeThrown(error)}`);
    }
  }

  /**
   * Calls `listener` after every render (one per frame under a flood), whether or not there is a
   * view: what statesocket/react's hooks re-render on. Returns the function that removes it.
   */
  onFrame(listener: () => void): () => void {
    (this.frames ??= new Set()).add(listener);
    return () => {
      this.frames?.delete(listener);
    };
  }

  /** Cancels a scheduled render; nothing renders after this. */
  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = null;
  }

  private flush(): void {
    this.cancel = null;
    if (this.stopped) return;
    if (this.view !== undefined) this.renderView();
    if (this.frames === null) return;
    for (const listener of [...this.frames]) {
      try {
        listener();
      } catch (error) {
        this.host.failed('ERR_RENDER_FAILED', `a frame listener threw: ${describeThrown(error)}`);
      }
    }
  }

  private renderView(): void {
    if (this.view === undefined) return;
    const fail = this.host.failed;
    try {
      // Neither is awaited: a promise either returns is watched only for its rejection.
      const data = this.model.getData() as never;
      catchRejection(data, (error) => fail('ERR_RENDER_FAILED', `model.getData rejected: ${describeThrown(error)}`));
      const rendered = this.view.render(data, this.host.status() as never);
      catchRejection(rendered, (error) => fail('ERR_RENDER_FAILED', `view.render rejected: ${describeThrown(error)}`));
    } catch (error) {
      // counted, kept in the status; the next change renders again
      fail('ERR_RENDER_FAILED', `view.render or model.getData threw: ${describeThrown(error)}`);
      return;
    }
    this.renders += 1;
    this.host.rendered();
  }
}
