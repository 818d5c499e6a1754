/**
 * The browser scenario's baseline page: the bare `WebSocket` doing the same Model and View work as
 * the statesocket page: the hello on open, `JSON.parse` and `store.update` per message, the rows
 * view rendered at most once per animation frame.
 */
import { HELLO } from '../wire.js';
import { createCountingStore, createRowsView } from '../workload.js';
import { expose, measure } from './page.js';

expose((url, n) => {
  const model = createCountingStore();
  const view = createRowsView();
  const socket = new WebSocket(url);
  const done = measure(model, view, n, () => socket.close());
  let pending = false;
  const render = () => {
    pending = false;
    view.render(model.getData(), undefined as never);
  };
  socket.onopen = () => socket.send(HELLO);
  socket.onmessage = (event: MessageEvent) => {
    if (typeof event.data !== 'string') return;
    try {
      model.update(JSON.parse(event.data));
    } catch {
      return; // malformed or out of order: dropped, as statesocket rejects it
    }
    if (!pending) {
      pending = true;
      requestAnimationFrame(render);
    }
  };
  return done;
});
