/**
 * The Controller: maps what the user does to what the connection and the notes
 * channel do. It never changes the table itself: an edit becomes an op on the
 * `notes` channel, queued in the connection's outbox; the channel's Model
 * changes when the server's patch comes back (on every page holding the
 * channel), and the View follows the Model.
 *
 * | user action                     | call                                                   |
 * |---------------------------------|--------------------------------------------------------|
 * | Save (form submit)              | `notes.send({ set: { [key]: value } })`                |
 * | Delete (form or row)            | `notes.send({ delete: [key] })`                        |
 * | Edit (row)                      | none: fills the form                                   |
 * | Retry now                       | `connection.retry()` (`client.retry`: skips the wait)  |
 * | Disconnect / Connect            | `connection.disconnect()` / `connection.connect()`     |
 */
import type { Channel } from '../src/channel.js';
import type { Connection } from '../src/connection.js';
import { isStatesocketError } from '../src/errors.js';
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

const describe = (error: unknown) => (isStatesocketError(error) ? `${error.code}: ${error.message}` : (error as Error).message);

/**
 * Wires the page's controls to the connection and the notes channel; `say` shows a one-line
 * message. Returns a function that removes every listener.
 */
export function bindController(
  elements: ControllerElements,
  connection: Connection,
  notes: Channel,
  say: (message: string) => void,
): () => void {
  const send = (changes: Changes, done: string) => {
    try {
      // The answer: a refusal by the server (ERR_DATA_LIMIT, ERR_PUBLISH_FORBIDDEN, …) is said when it comes.
      notes.send(changes).catch((error: unknown) => say(describe(error)));
    } catch (error) {
      // ERR_NOT_SUBSCRIBED, ERR_OUTBOX_FULL, ERR_PAYLOAD_TOO_LARGE, ERR_STOPPED, or an op the protocol refuses
      say(describe(error));
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
      const change = pendingChanges(connection.getOutbox(), notes.name).get(key);
      const value = change?.kind === 'set' ? change.value : notes.model.getData()[key];
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
