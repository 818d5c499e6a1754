/**
 * The shared `notes` channel: its table with the edits still waiting for the server's ack laid
 * over it (marked pending), the form and the row actions, and who is here (its presence).
 * An edit is an op on the channel (`send`), queued in the connection's outbox; the table changes
 * when the server's patch comes back, on every page holding the channel. The pending marks are
 * read from the outbox (../present.ts) when the component renders: on a change of the data, and
 * when this page's own op is queued or settled.
 */
import { useReducer, useState, type FormEvent } from 'react';
import { isStatesocketError } from '../../src/errors.js';
import { useChannel, useConnection } from '../../src/react/index.js';
import type { Changes } from '../../src/sync/messages.js';
import { APP_CHANNELS } from '../channels.js';
import { ROW_ACTIONS } from '../controller.js';
import { hereText, inputFromValue, memberRows, pendingChanges, tableRows, valueFromInput } from '../present.js';
import { Panel } from './ChannelPanel.js';

const NOTES = APP_CHANNELS.notes;
const PRESENCE = { presence: true } as const;

const describe = (error: unknown) => (isStatesocketError(error) ? `${error.code}: ${error.message}` : (error as Error).message);

export function NotesPanel({ clientId }: { clientId: string }) {
  const connection = useConnection();
  const { data = {}, status, send, presence } = useChannel(NOTES, PRESENCE);
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const [message, setMessage] = useState('');
  // The outbox is not React state: render again when one of this page's ops is queued or settles.
  const [, outboxChanged] = useReducer((n: number) => n + 1, 0);
  const pending = pendingChanges(connection.getOutbox(), NOTES);

  const edit = (changes: Changes, done: string) => {
    try {
      // A refusal by the server (ERR_DATA_LIMIT, ERR_PUBLISH_FORBIDDEN, …) is said when it comes.
      send(changes)
        .catch((error: unknown) => setMessage(describe(error)))
        .finally(outboxChanged);
    } catch (error) {
      // ERR_NOT_SUBSCRIBED, ERR_OUTBOX_FULL, ERR_PAYLOAD_TOO_LARGE, or an op the protocol refuses
      setMessage(describe(error));
      return;
    }
    outboxChanged();
    setMessage(connection.getStatus().state === 'open' ? done : `${done}; pending until the connection is back`);
  };
  const keyOrSay = (): string | null => {
    const trimmed = key.trim();
    if (trimmed === '') setMessage('Enter a key first.');
    return trimmed === '' ? null : trimmed;
  };
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const k = keyOrSay();
    if (k !== null) edit({ set: { [k]: valueFromInput(value) } }, `saved ${k}`);
  };
  const onDelete = () => {
    const k = keyOrSay();
    if (k !== null) edit({ delete: [k] }, `deleted ${k}`);
  };
  const onRowAction = (action: (typeof ROW_ACTIONS)[number]['action'], rowKey: string) => {
    if (action === 'delete') return edit({ delete: [rowKey] }, `deleted ${rowKey}`);
    const change = pending.get(rowKey);
    setKey(rowKey);
    setValue(inputFromValue(change?.kind === 'set' ? change.value : data[rowKey]));
  };

  const members = presence ?? [];
  return (
    <>
      <Panel
        name={NOTES}
        status={status}
        hint={
          <>
            Shared by every page: an edit is an op on the channel, shown as <em>pending</em> until the server applies it (once, even across a
            reconnect), then on every page.
          </>
        }
      >
        <form id="editor" autoComplete="off" onSubmit={onSubmit}>
          <label>
            Key <input id="key" name="key" maxLength={200} placeholder="e.g. note" value={key} onChange={(event) => setKey(event.target.value)} />
          </label>
          <label>
            Value{' '}
            <input id="value" name="value" placeholder='text, or JSON: 42, true, {"a":1}' value={value} onChange={(event) => setValue(event.target.value)} />
          </label>
          <button type="submit">Save</button>
          <button id="delete" type="button" className="secondary" onClick={onDelete}>
            Delete
          </button>
          <p id="message" className="message" aria-live="polite">
            {message}
          </p>
        </form>
        <table>
          <colgroup>
            <col className="col-key" />
            <col className="col-value" />
            <col className="col-sync" />
            <col className="col-actions" />
          </colgroup>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Value</th>
              <th scope="col">Sync</th>
              <th scope="col">
                <span className="hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody id="rows">
            {tableRows(data, pending).map((row) => (
              <tr key={row.key} data-key={row.key} data-state={row.state}>
                {row.cells.map((cell, index) => (
                  <td key={index}>{cell}</td>
                ))}
                <td>
                  {ROW_ACTIONS.map(({ action, label }) => (
                    <button key={action} type="button" data-action={action} onClick={() => onRowAction(action, row.key)}>
                      {label}
                    </button>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Panel>
      <section id="presence" className="panel" aria-labelledby="presence-title">
        <h2>
          <span id="presence-title">Who is here</span>{' '}
          <span className="chip" id="here">
            {hereText(members)}
          </span>
        </h2>
        <ul id="members" className="members">
          {memberRows(members, clientId).map((row) => (
            <li key={row.key} data-key={row.key} data-state={row.state}>
              {row.cells.map((cell, index) => (
                <span key={index}>{cell}</span>
              ))}
            </li>
          ))}
        </ul>
        <p className="hint">
          The members of <code>notes</code>: one per page. A page that goes away leaves after the server's grace period.
        </p>
      </section>
    </>
  );
}
