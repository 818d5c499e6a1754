/** A test protocol whose `op` messages wait for `{type:'ack', id}`; everything else is a message for the Model. */
import type { Protocol } from '../../src/protocol.js';

export const ackingProtocol: Protocol = {
  name: 'acking',
  decode: (message) => {
    const m = message as { type?: string; id?: string };
    return m.type === 'ack' && typeof m.id === 'string' ? { type: 'ack.received', id: m.id } : { type: 'message.received', message };
  },
  encode: (message) => {
    const m = message as { type?: string; id?: string };
    const frame = JSON.stringify(message);
    return m.type === 'op' && m.id !== undefined ? { frame, ackId: m.id } : { frame };
  },
};
