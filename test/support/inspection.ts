/**
 * The connection machine's definition exactly as an inspected process sends
 * it: `@statelyai/inspect` serializing a real connection's actor (keys sorted,
 * functions as `{ type: name }`, cut at `serializationDepthLimit`).
 */
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { createConnection } from '../../src/node.js';
import { onCleanup } from './cleanup.js';

/** The `definition` of the connection actor's `@xstate.actor` message. */
export async function capturedDefinition(serializationDepthLimit: number): Promise<string> {
  const messages: StatelyInspectionEvent[] = [];
  const inspector = createInspector({ send: (event) => messages.push(event) }, { serializationDepthLimit });
  const connection = createConnection({ url: 'ws://127.0.0.1:9/', autoStart: false, inspect: inspector });
  onCleanup(() => connection.stop());
  for (let i = 0; i < 200; i++) {
    const actor = messages.find((message) => message.type === '@xstate.actor' && message.name === 'connection');
    if (actor !== undefined && actor.type === '@xstate.actor' && typeof actor.definition === 'string') return actor.definition;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('no @xstate.actor message with a definition arrived');
}
