/**
 * Scenario 1, client side: one connection receives a snapshot and `warmup + n`
 * patches blasted by the server, applies every one to the model and renders
 * the rows view at most once per frame. The first `warmup` patches are not
 * timed (V8 compiles the hot functions meanwhile, on a background thread: how
 * soon depends on the machine's load). Measured from the last warm-up patch
 * applied to the last patch applied, or to `maxSeconds` later (a time box: a
 * slow client is measured on the patches it applied by then, and the model
 * stops taking updates): messages per second and CPU microseconds per message.
 */
import { isDeepStrictEqual } from 'node:util';
import { connect, type Library } from '../adapters.js';
import { finish } from '../lib/ipc.js';
import { sleep, wallNow, withTimeout } from '../lib/time.js';
import { expectedRows } from '../wire.js';
import { FRAME_MS, createCountingStore, createRowsView } from '../workload.js';

export interface ThroughputParams {
  library: Library;
  protocol: 'sync' | 'raw' | 'channel';
  url: string;
  /** Patches timed, after the warm-up. */
  n: number;
  /** Patches applied before the timing starts (the blast holds `warmup + n`). */
  warmup: number;
  maxSeconds: number;
  timeoutMs: number;
}

export async function throughputRole(params: ThroughputParams): Promise<never> {
  const { n, warmup } = params;
  // applied counts the snapshot too: the timing starts at the last warm-up patch (or the snapshot)
  const startAt = 1 + warmup;
  const model = createCountingStore();
  const view = createRowsView();
  let applied = 0;
  let firstAt = 0;
  let lastAt = 0;
  let cpuStart: NodeJS.CpuUsage | undefined;
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  let renders = 0;
  let done: () => void = () => {};
  const measured = new Promise<void>((resolve) => {
    done = resolve;
  });
  model.onApplied = () => {
    applied++;
    if (applied < startAt) return;
    if (applied === startAt) {
      firstAt = wallNow();
      cpuStart = process.cpuUsage();
      return;
    }
    const now = wallNow();
    if (applied === startAt + n || now - firstAt >= params.maxSeconds * 1000) {
      lastAt = now;
      cpu = process.cpuUsage(cpuStart);
      renders = view.renders;
      model.frozen = true;
      done();
    }
  };
  connect(params.library, { url: params.url, model, view, reconnect: 'none', protocol: params.protocol });
  await withTimeout(measured, params.timeoutMs, `the snapshot and the patches (${applied} applied)`);
  // The render after the last patch applied: at most a frame away, unless the loop is still busy reading.
  const renderDeadline = wallNow() + 1_000;
  while (view.lastData !== model.getData() && wallNow() < renderDeadline) await sleep(FRAME_MS / 2);
  const patches = applied - startAt;
  const seconds = (lastAt - firstAt) / 1000;
  const correct = isDeepStrictEqual({ ...model.getData() }, expectedRows(applied - 1)) && view.lastData === model.getData();
  return finish({
    type: 'result',
    messages: patches,
    complete: patches === n,
    seconds,
    messagesPerSec: patches / seconds,
    cpuUsPerMessage: (cpu.user + cpu.system) / patches,
    renders,
    rendersPerSec: renders / seconds,
    correct,
  });
}

export interface ChannelPairParams {
  /** The blast URL without `&channel=` (the channel segments add it). */
  url: string;
  channel: string;
  /** Patches per segment. */
  n: number;
  /** Pairs measured after one warm-up pair. */
  pairs: number;
  timeoutMs: number;
}

/** One connection's segment: its CPU µs per patch, from its snapshot applied to its last patch applied. */
async function segment(protocol: 'sync' | 'channel', params: ChannelPairParams): Promise<number> {
  const model = createCountingStore();
  const view = createRowsView();
  let applied = 0;
  let cpuStart: NodeJS.CpuUsage | undefined;
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  let done: () => void = () => {};
  const measured = new Promise<void>((resolve) => {
    done = resolve;
  });
  model.onApplied = () => {
    applied++;
    if (applied === 1) cpuStart = process.cpuUsage();
    else if (applied === params.n + 1) {
      cpu = process.cpuUsage(cpuStart);
      done();
    }
  };
  const url = protocol === 'channel' ? `${params.url}&channel=${params.channel}` : params.url;
  const connection = connect('statesocket', { url, model, view, reconnect: 'none', protocol });
  try {
    await withTimeout(measured, params.timeoutMs, `the ${protocol} segment's snapshot and patches (${applied} applied)`);
  } finally {
    connection.close();
  }
  if (!isDeepStrictEqual({ ...model.getData() }, expectedRows(params.n))) throw new Error(`the ${protocol} segment ended with the wrong rows`);
  // the closed connection's last callbacks run before the next segment starts
  await sleep(FRAME_MS);
  return (cpu.user + cpu.system) / params.n;
}

/**
 * Issue 13's pair over a real socket, in one process: a connection without channels and one whose
 * model is on a channel take the same blast in turn, alternating (AB, BA, …) in short segments, so
 * that each pair's two segments meet the same machine a fraction of a second apart (separate
 * processes a second or more apart met another core's load as often as not). Reports every pair's
 * ratio of client CPU per patch, channel over no channels; one warm-up pair first, not counted.
 */
export async function channelPairRole(params: ChannelPairParams): Promise<never> {
  const without: number[] = [];
  const onChannel: number[] = [];
  for (let pair = -1; pair < params.pairs; pair++) {
    const order: Array<'sync' | 'channel'> = pair % 2 === 0 ? ['sync', 'channel'] : ['channel', 'sync'];
    const cpu: Record<string, number> = {};
    for (const protocol of order) cpu[protocol] = await segment(protocol, params);
    if (pair < 0) continue;
    without.push(cpu.sync!);
    onChannel.push(cpu.channel!);
  }
  return finish({ type: 'result', without, onChannel, ratios: onChannel.map((c, i) => c / without[i]!) });
}
