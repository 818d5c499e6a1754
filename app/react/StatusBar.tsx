/**
 * The connection's badge (state, attempt, retry countdown), its last error, "Retry now" and the
 * Connect/Disconnect toggle. `useConnectionStatus()` re-renders it only when the state, the
 * attempt, the next retry time or the last error change; the countdown ticks on a timer of its
 * own only while a reconnect waits.
 */
import { useEffect, useState } from 'react';
import { useConnection, useConnectionStatus } from '../../src/react/index.js';
import { attemptText, canRetry, countdownText, errorText, stateText, toggleLabel } from '../present.js';

/** How often the countdown is redrawn while a reconnect waits, in milliseconds. */
const COUNTDOWN_TICK_MS = 100;

/** `Date.now()`, refreshed every `COUNTDOWN_TICK_MS` while `ticking`. */
function useNow(ticking: boolean): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!ticking) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), COUNTDOWN_TICK_MS);
    return () => clearInterval(timer);
  }, [ticking]);
  return now;
}

export function StatusBar({ name }: { name: string }) {
  const connection = useConnection();
  const status = useConnectionStatus();
  const now = useNow(status.nextRetryAt !== null);
  const toggle = toggleLabel(status);
  return (
    <header className="bar">
      <h1>
        statesocket <span className="sub">live · React</span>
      </h1>
      <div id="status" className="badge" data-state={status.state} data-online={String(status.online)} role="status" aria-live="polite">
        <span className="dot" aria-hidden="true" />
        <span id="state">{stateText(status)}</span>
        <span id="attempt" className="detail">{attemptText(status)}</span>
        <span id="countdown" className="detail">{countdownText(status, now)}</span>
      </div>
      <span id="me" className="me">you are {name}</span>
      <span id="error" className="me">{errorText(status)}</span>
      <div className="controls">
        <button id="retry" type="button" disabled={!canRetry(status)} onClick={() => connection.retry()}>
          Retry now
        </button>
        <button
          id="toggle"
          type="button"
          onClick={() => (toggle === 'Connect' ? connection.connect() : connection.disconnect(1000, 'user disconnected'))}
        >
          {toggle}
        </button>
      </div>
    </header>
  );
}
