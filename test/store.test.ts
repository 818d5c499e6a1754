import { describe, expect, it } from 'vitest';
import { createStore } from '../src/store.js';

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
  ])('throws on %j without changing anything', (message, problem) => {
    const store = createStore({ keep: true });
    expect(() => store.update(message)).toThrow(`createStore: ${problem}`);
    expect(store.getData()).toEqual({ keep: true });
  });
});
