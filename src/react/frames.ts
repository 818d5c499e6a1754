/**
 * The clock the hooks re-render on: the connection's coalesced render (src/render.ts `onFrame`),
 * at most once per frame however many messages arrive. One follower per connection, shared by
 * every hook on it and on its channels; `version` moves at each frame, and a hook's snapshot is
 * read again only when it moved (between frames every hook keeps the data of the last one: no
 * torn reads).
 */
import { frameSourceOf, type FrameSource } from '../render.js';

export interface Frames {
  /** Moves at every frame, and when the first hook subscribes (the data may have changed unseen). */
  readonly version: number;
  /** Calls `listener` after every frame; returns the function that removes it. */
  subscribe(listener: () => void): () => void;
}

const followers = new WeakMap<FrameSource, Frames>();

/** The frames of a connection or of a channel handle (its connection's). */
export function framesOf(target: object): Frames {
  const source = frameSourceOf(target);
  let frames = followers.get(source);
  if (frames === undefined) {
    frames = follow(source);
    followers.set(source, frames);
  }
  return frames;
}

function follow(source: FrameSource): Frames {
  const listeners = new Set<() => void>();
  let stopFollowing: (() => void) | null = null;
  const frames = {
    version: 0,
    subscribe(listener: () => void) {
      listeners.add(listener);
      if (stopFollowing === null) {
        frames.version += 1;
        stopFollowing = source.onFrame(() => {
          frames.version += 1;
          for (const each of [...listeners]) each();
        });
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && stopFollowing !== null) {
          stopFollowing();
          stopFollowing = null;
        }
      };
    },
  };
  return frames;
}
