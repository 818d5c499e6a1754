/**
 * The Controller: maps what the user does to what the connection does. It
 * never changes the table itself: an edit becomes an op in the connection's
 * outbox, the Model changes when the server's patch comes back, and the View
 * follows the Model.
 *
 * | user action                     | connection call                                       |
 * |---------------------------------|-------------------------------------------------------|
 * | Save (form submit)              | `send(createOp({ set: { [key]: value } }))`           |
 * | Delete (form or row)            | `send(createOp({ delete: [key] }))`                   |
 * | Edit (row)                      | none: fills the form                                  |
 * | Retry now                       | `retry()` (`client.retry`: skips the backoff wait)    |
 * | Disconnect / Connect            | `disconnect()` (`client.disconnect`) / `connect()`    |
 */
import type { Connection } from '../src/connection.js';
import { isStatesocketError } from '../src/errors.js';
import type { StoreData } from '../src/store.js';
import { createOp } from '../src/sync/client-protocol.js';
import type { Changes } from '../src/sync/messages.js';
import { inputFromValue, pendingChanges, toggleLabel, valueFromInput } from './present.js';

export interface ControllerElements {
  form: HTMLFormElement;
  key: HTMLInputElement;
  value: HTMLInputElement;
  remove: HTMLButtonElement;
  rows: HTMLElement;
  retry: HTMLButtonElement;
  toggle: HTMLButtonElement;
}

/** Row buttons the view draws and the controller handles. */
export const ROW_ACTIONS = [
  { action: 'edit', label: 'Edit' },
  { action: 'delete', label: 'Delete' },
] as const;

/**
 * Wires the page's controls to the connection; `say` shows a one-line message.
 * Returns a function that removes every listener.
 */
export function bindController(
  elements: ControllerElements,
  connection: Connection,
  say: (message: string) => void,
): () => void {
  const send = (changes: Changes, done: string) => {
    try {
      connection.send(createOp(changes));
    } catch (error) {
      // ERR_OUTBOX_FULL, ERR_PAYLOAD_TOO_LARGE, ERR_STOPPED, or an op the protocol refuses
      say(isStatesocketError(error) ? `${error.code}: ${error.message}` : (error as Error).message);
      return;
    }
    const open = connection.getStatus().state === 'open';
    say(open ? done : `${done}; pending until the connection is back`);
  };

  const keyOf = (): string | null => {
    const key = elements.key.value.trim();
    if (key === '') {
      say('Enter a key first.');
      elements.key.focus();
      return null;
    }
    return key;
  };

  const onSubmit = (event: SubmitEvent) => {
    event.preventDefault();
    const key = keyOf();
    if (key === null) return;
    send({ set: { [key]: valueFromInput(elements.value.value) } }, `saved ${key}`);
  };

  const onRemove = () => {
    const key = keyOf();
    if (key !== null) send({ delete: [key] }, `deleted ${key}`);
  };

  const onRowClick = (event: MouseEvent) => {
    const button = (event.target as Element | null)?.closest('button[data-action]');
    const key = button?.closest('[data-key]')?.getAttribute('data-key');
    if (button == null || key == null) return;
    const action = button.getAttribute('data-action');
    if (action === 'delete') {
      send({ delete: [key] }, `deleted ${key}`);
    } else if (action === 'edit') {
      const change = pendingChanges(connection.actor.getSnapshot().context.outbox).get(key);
      const value = change?.kind === 'set' ? change.value : connection.model.getData()[key];
      elements.key.value = key;
      elements.value.value = inputFromValue(value);
      elements.value.focus();
      elements.value.select();
    }
  };

  const onRetry = () => connection.retry();

  const onToggle = () => {
    if (toggleLabel(connection.getStatus()) === 'Connect') connection.connect();
    else connection.disconnect(1000, 'user disconnected');
  };

  const listeners: Array<[EventTarget, string, (event: never) => void]> = [
    [elements.form, 'submit', onSubmit],
    [elements.remove, 'click', onRemove],
    [elements.rows, 'click', onRowClick],
    [elements.retry, 'click', onRetry],
    [elements.toggle, 'click', onToggle],
  ];
  for (const [target, type, listener] of listeners) target.addEventListener(type, listener as EventListener);
  return () => {
    for (const [target, type, listener] of listeners) target.removeEventListener(type, listener as EventListener);
  };
}
