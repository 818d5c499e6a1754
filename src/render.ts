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

export class Renderer {
  /** Calls to `view.render` that returned. */
  renders = 0;
  private cancel: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly view: View<never, never> | undefined,
    private readonly model: AnyModel,
    private readonly schedule: RenderScheduler,
    private readonly host: RenderHost,
  ) {}

  /** Asks for a render; one is already scheduled, nothing more happens. */
  request(): void {
    if (this.view === undefined || this.cancel !== null || this.stopped) return;
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

  /** Cancels a scheduled render; nothing renders after this. */
  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = null;
  }

  private flush(): void {
    this.cancel = null;
    if (this.stopped || this.view === undefined) return;
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
