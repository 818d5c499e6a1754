import { describe, expect, it } from 'vitest';
import { createStore } from '../src/store.js';
import { createSyncProtocol } from '../src/sync/client-protocol.js';
import { createTestConnection } from '../src/testing/index.js';

describe('createStore', () => {
  it('replaces the document on a snapshot and applies patches', () => {
    const store = createStore({ old: 1 });
    store.update({ type: 'snapshot', data: { a: 1, b: { c: [1, 2] } } });
    store.update({ type: 'patch', set: { d: null }, delete: ['a', 'missing'] });
    expect(store.getData()).toEqual({ b: { c: [1, 2] }, d: null });
    expect(store.applied).toBe(2);
  });

  it('returns the same frozen object until the next change', () => {
    const store = createStore();
    const a = store.getData();
    expect(store.getData()).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    store.update({ type: 'patch', set: { x: 1 } });
    expect(store.getData()).not.toBe(a);
  });

  it('records the position of what it applied, and leaves order to the protocol', () => {
    const store = createStore();
    expect(store.position()).toBeNull();
    store.update({ type: 'snapshot', epoch: 'e', seq: 4, data: { a: 1 } });
    expect(store.position()).toEqual({ epoch: 'e', seq: 4 });
    // Sequence is the sync protocol's to check (it drops duplicates and resyncs on a gap); the store applies what it is given.
    store.update({ type: 'patch', epoch: 'e', seq: 9, set: { b: 2 } });
    expect(store.position()).toEqual({ epoch: 'e', seq: 9 });
    store.update({ type: 'patch', set: { c: 3 } }); // rawProtocol: no position
    expect(store.position()).toEqual({ epoch: 'e', seq: 9 });
    expect(store.getData()).toEqual({ a: 1, b: 2, c: 3 });
  });

  it('keeps any other message as lastMessage', () => {
    const store = createStore();
    store.update({ type: 'chat', text: 'hi' });
    store.update(42);
    expect(store.lastMessage).toBe(42);
    expect(store.getData()).toEqual({});
  });

  it.each([
    [{ type: 'snapshot', data: [1] }, 'snapshot.data must be an object'],
    [{ type: 'snapshot' }, 'snapshot.data must be an object'],
    [{ type: 'patch', set: 'x' }, 'patch.set must be an object'],
    [{ type: 'patch', delete: [1] }, 'patch.delete must be an array of strings'],
    [JSON.parse('{"type":"snapshot","data":{"__proto__":{"polluted":true},"a":1}}'), 'snapshot.data must not have a "__proto__" key'],
    [JSON.parse('{"type":"patch","set":{"a":1,"__proto__":{"polluted":true}}}'), 'patch.set must not have a "__proto__" key'],
    [JSON.parse('{"type":"patch","epoch":"e","seq":1,"set":{"__proto__":null}}'), 'patch.set must not have a "__proto__" key'],
  ])('throws on %j without changing anything', (message, problem) => {
    const store = createStore({ keep: true });
    expect(() => store.update(message)).toThrow(`createStore: ${problem}`);
    expect(store.getData()).toEqual({ keep: true });
  });

  it('checks only the top level for __proto__: a nested one is data like any other', () => {
    const store = createStore();
    store.update(JSON.parse('{"type":"patch","set":{"a":{"__proto__":1}}}'));
    expect(Object.hasOwn(store.getData().a as object, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a top-level __proto__ from the socket as ERR_MODEL_REJECTED and keeps the data', () => {
    const t = createTestConnection({ protocol: createSyncProtocol() });
    t.open();
    t.socket.receive('{"type":"snapshot","epoch":"e","seq":1,"data":{"a":1}}');
    t.socket.receive('{"type":"patch","epoch":"e","seq":2,"set":{"__proto__":{"polluted":true}}}');
    expect(t.connection.getStatus()).toMatchObject({
      state: 'open',
      lastRejected: { code: 'ERR_MODEL_REJECTED', message: 'createStore: patch.set must not have a "__proto__" key' },
    });
    expect(t.connection.model.getData()).toEqual({ a: 1 });
    expect(Object.getPrototypeOf(t.connection.model.getData())).toBe(Object.prototype);
    t.connection.stop();
  });
});
