/**
 * The data file: every channel's document and op marks, and version 1's dedup record, as JSON, loaded at start (a corrupt file
 * is a startup error) and replaced atomically (temp file, fsync, rename) on every write.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describeValue } from '../options.js';
import type { Json } from '../store.js';
import { isChannelName, isClientId } from '../sync/messages-v2.js';
import type { PersistedClientOwner } from './client-owners.js';
import type { PersistedMark } from './marks.js';
import type { PersistedChannel, PersistedState, RefusedOp } from './sync-server.js';

/** The data file is unreadable or not a statesocket data file: the server does not start. */
export class DataFileError extends Error {
  override readonly name = 'DataFileError';
  readonly code = 'ERR_DATA_FILE';
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.path = path;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the data file; undefined when it does not exist. */
export function loadDataFile(path: string): PersistedState | undefined {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DataFileError(path, `cannot read data file ${path}: ${(error as Error).message}`, { cause: error });
  }
  const corrupt = (problem: string, cause?: unknown) =>
    new DataFileError(
      path,
      `data file ${path} is corrupt: ${problem}. Expected {"data": {...}, "appliedOpIds": [...]} as written by this server; restore it or remove it to start empty.`,
      cause === undefined ? undefined : { cause },
    );
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw corrupt(`not JSON (${(error as Error).message})`, error);
  }
  if (!isRecord(value)) throw corrupt(`the top level is ${Array.isArray(value) ? 'an array' : describeValue(value)}, not an object`);
  if (!isRecord(value.data)) throw corrupt('"data" is missing or not an object');
  if (!Array.isArray(value.appliedOpIds) || !value.appliedOpIds.every((id) => typeof id === 'string')) {
    throw corrupt('"appliedOpIds" is missing or not an array of strings');
  }
  const ids = value.appliedOpIds as string[];
  const state: PersistedState = { data: value.data as Record<string, Json>, appliedOpIds: ids };
  // Written since the records keep each id's time and owner; an older file has neither, and its
  // ids count as recorded long ago (see SyncServerOptions.initial).
  const isTime = (at: unknown) => typeof at === 'number' && Number.isFinite(at);
  const { appliedOpTimes, appliedOpOwners, opOwners } = value;
  if (opOwners !== undefined) {
    if (!Array.isArray(opOwners) || !opOwners.every((o) => typeof o === 'string')) throw corrupt('"opOwners" is not an array of strings');
    state.opOwners = opOwners as string[];
  }
  const ownerCount = state.opOwners?.length ?? 0;
  const isOwner = (o: unknown) => typeof o === 'number' && Number.isInteger(o) && o >= 0 && o < ownerCount;
  if (appliedOpTimes !== undefined) {
    if (!Array.isArray(appliedOpTimes) || appliedOpTimes.length !== ids.length || !appliedOpTimes.every(isTime)) {
      throw corrupt('"appliedOpTimes" is not an array of times as long as "appliedOpIds"');
    }
    state.appliedOpTimes = appliedOpTimes as number[];
  }
  if (appliedOpOwners !== undefined) {
    if (!Array.isArray(appliedOpOwners) || appliedOpOwners.length !== ids.length || !appliedOpOwners.every(isOwner)) {
      throw corrupt('"appliedOpOwners" is not an array of indexes into "opOwners" as long as "appliedOpIds"');
    }
    state.appliedOpOwners = appliedOpOwners as number[];
  }
  // Written since refusals are recorded; an older file has none, and loads with an empty record.
  // Files written before the record dropped messages hold one per refusal: read, then dropped.
  const { refusedOps } = value;
  if (refusedOps !== undefined) {
    const isRefusal = (op: unknown) =>
      isRecord(op) &&
      typeof op.id === 'string' &&
      typeof op.code === 'string' &&
      (op.message === undefined || typeof op.message === 'string') &&
      (op.at === undefined || isTime(op.at)) &&
      (op.owner === undefined || isOwner(op.owner));
    if (!Array.isArray(refusedOps) || !refusedOps.every(isRefusal)) {
      throw corrupt('"refusedOps" is not an array of {id, code}');
    }
    state.refusedOps = (refusedOps as RefusedOp[]).map(({ id, code, at, owner }) => ({ id, code, ...(at === undefined ? {} : { at }), ...(owner === undefined ? {} : { owner }) }));
  }
  // Written since channels (protocol version 2); a version 1 file has neither: its data is the default channel's.
  if (value.time !== undefined) {
    if (!isTime(value.time)) throw corrupt('"time" is not a number');
    state.time = value.time as number;
  }
  // Written since client ids' users are kept; an older file derives them from its marks (sync-server.ts).
  if (value.clientOwners !== undefined) {
    const isOwner = (entry: unknown) =>
      Array.isArray(entry) && entry.length === 3 && isClientId(entry[0]) && typeof entry[1] === 'string' && entry[1].length >= 1 && entry[1].length <= 128 && isCount(entry[2]);
    if (!Array.isArray(value.clientOwners) || !value.clientOwners.every(isOwner)) throw corrupt('"clientOwners" is not an array of [client id, user, time]');
    state.clientOwners = value.clientOwners as PersistedClientOwner[];
  }
  if (value.channels !== undefined) {
    if (!isRecord(value.channels)) throw corrupt('"channels" is not an object of channel name to {data, marks}');
    const channels: Record<string, PersistedChannel> = {};
    for (const name of Object.keys(value.channels)) {
      if (!isChannelName(name)) throw corrupt(`"channels" holds ${JSON.stringify(String(name).slice(0, 140))}, which is not a channel name`);
      const problem = channelProblem(value.channels[name]);
      if (problem !== undefined) throw corrupt(`"channels"."${name}"${problem}`);
      channels[name] = value.channels[name] as PersistedChannel;
    }
    state.channels = channels;
  }
  return state;
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** What is wrong with a stored channel, as ` is …` or `.field is …`; undefined when it holds. */
function channelProblem(entry: unknown): string | undefined {
  if (!isRecord(entry)) return ` is ${describeValue(entry)}, not an object {data?, marks?, horizon?}`;
  if (entry.data !== undefined && !isRecord(entry.data)) return '.data is not an object';
  if (entry.horizon !== undefined && !isCount(entry.horizon)) return '.horizon is not a time';
  if (entry.marks === undefined) return undefined;
  if (!Array.isArray(entry.marks)) return '.marks is not an array';
  for (let i = 0; i < entry.marks.length; i++) {
    const mark = entry.marks[i] as PersistedMark;
    const ok =
      isRecord(mark) &&
      isClientId(mark.client) &&
      (mark.user === null || (typeof mark.user === 'string' && mark.user.length >= 1 && mark.user.length <= 128)) &&
      isCount(mark.n) &&
      mark.n >= 1 &&
      isCount(mark.at) &&
      typeof mark.owner === 'string' &&
      (mark.acked === undefined || isCount(mark.acked)) &&
      (mark.floor === undefined || isCount(mark.floor)) &&
      (mark.refusals === undefined ||
        (Array.isArray(mark.refusals) && mark.refusals.every((r) => Array.isArray(r) && r.length === 2 && isCount(r[0]) && typeof r[1] === 'string')));
    if (!ok) return `.marks[${i}] is not a mark {client, user, n, at, owner, acked?, refusals?, floor?}`;
  }
  return undefined;
}

let tempCounter = 0;

/**
 * Replaces the data file atomically: a reader (or a crash) sees the old file or
 * the new one, never half of one. Write a temp file in the same directory (a
 * rename is atomic only within one file system), fsync it, rename it over the
 * file, then fsync the directory so the rename itself is durable.
 */
export function writeDataFileAtomic(path: string, state: PersistedState): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${tempCounter++}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'w', 0o644);
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, path);
  } catch (error) {
    // The cleanup's own failure (the temp path is a directory, the disk is gone) must not hide the write's.
    try {
      if (fd !== undefined) closeSync(fd);
    } catch {
      // already reported through `error`
    }
    try {
      rmSync(temp, { force: true });
    } catch {
      // a temp file left behind is harmless: the next write uses another name
    }
    throw new DataFileError(path, `cannot write data file ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic there.
  }
}

