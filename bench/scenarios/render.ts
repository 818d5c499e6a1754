/**
 * Scenario 5: render coalescing under a flood (see bench/roles/render.ts).
 */
import { clientGraceMs, forkClient } from '../lib/children.js';
import { cell, num, verdict, type TargetCheck } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import type { ScenarioContext, ScenarioResult } from './context.js';

export const RENDERS_PER_SECOND_TARGET = 60;

/** A flood the CPU cannot keep up with, and a trickle that leaves the loop idle, so the frame timer alone sets the pace. */
const FLOODS = (updates: number, durationMs: number) =>
  [
    { id: 'flood', updates, durationMs },
    { id: 'trickle', updates: durationMs, durationMs },
  ] as const;

const SCHEDULERS = [
  { id: 'frame', label: '`frameScheduler()` in Node (1000/60 ms frame, the default)' },
  { id: 'animation-frame', label: '`animationFrameScheduler()` on a 60 Hz requestAnimationFrame' },
] as const;

interface Run {
  floodMs: number;
  updatesPerSec: number;
  renders: number;
  rendersPerSec: number;
  maxRendersInAnySecond: number;
  shortestGapMs: number;
  correct: boolean;
}

export async function renderScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { updates, durationMs, repetitions } = ctx.profile.render;
  const floods = FLOODS(updates, durationMs);
  const data: Record<string, Run[]> = {};
  const key = (scheduler: string, flood: string) => `${scheduler} / ${flood}`;
  for (let rep = 0; rep < repetitions; rep++) {
    for (const flood of floods) {
      for (const scheduler of SCHEDULERS) {
        const client = await forkClient(`render client (${scheduler.id}, ${flood.id})`, 'render', {
          scheduler: scheduler.id,
          updates: flood.updates,
          durationMs: flood.durationMs,
        });
        try {
          const run = (await client.next('result', flood.durationMs * 20 + 30_000)) as unknown as Run;
          (data[key(scheduler.id, flood.id)] ??= []).push(run);
          ctx.log(`render ${scheduler.id} ${flood.id}: ${num(run.rendersPerSec, 1)} renders/s (${num(run.maxRendersInAnySecond)} in the busiest second), ${num(run.updatesPerSec)} updates/s`);
        } finally {
          await client.kill(clientGraceMs());
        }
      }
    }
  }
  const targets: TargetCheck[] = [];
  const rows = floods.flatMap((flood) =>
    SCHEDULERS.map((scheduler) => {
      const runs = data[key(scheduler.id, flood.id)]!;
      const rate = summarize(runs.map((r) => r.rendersPerSec));
      const busiest = Math.max(...runs.map((r) => r.maxRendersInAnySecond));
      const allCorrect = runs.every((r) => r.correct);
      const met = rate.max <= RENDERS_PER_SECOND_TARGET && allCorrect;
      targets.push({
        name: `renders per second, ${scheduler.id === 'frame' ? 'frameScheduler (Node)' : 'animation frames'}, ${flood.id}`,
        required: `≤ ${RENDERS_PER_SECOND_TARGET}/s, final render correct`,
        measured: `${num(rate.max, 1)}/s by the median gap (busiest 1-second window ${num(busiest)})${allCorrect ? '' : ', final render wrong'}`,
        met,
      });
      return [
        scheduler.label,
        `${num(flood.updates)} in ${num(flood.durationMs)} ms`,
        cell(summarize(runs.map((r) => r.updatesPerSec))),
        cell(rate, 1),
        cell(summarize(runs.map((r) => r.maxRendersInAnySecond))),
        cell(summarize(runs.map((r) => r.shortestGapMs)), 1),
        allCorrect ? 'yes' : `no (${runs.filter((r) => !r.correct).length} of ${runs.length})`,
        verdict(met),
      ];
    }),
  );
  return {
    params: { updates, durationMs, repetitions },
    tables: [
      {
        columns: ['scheduler', 'updates', 'updates/s achieved', 'renders/s (median gap)', 'renders in the busiest 1-second window', 'shortest gap between renders ms', 'final render correct', `target ≤ ${RENDERS_PER_SECOND_TARGET}/s`],
        rows,
        notes: [
          'Patches paced into one connection (FakeWebSocket → socket actor → machine → sync protocol → `model.update` → `renderView`), real timers, at most 100 per turn of the event loop (one socket read\'s worth). The flood is more than the client can apply ("updates/s achieved" shows what it managed); the trickle (one update per millisecond) leaves the loop mostly idle, so the frame timer alone sets the render rate.',
          'The browser-like requestAnimationFrame runs callbacks on a 60 Hz grid, never two within half an interval.',
          'Renders per second = 1000 ms / the median gap between consecutive renders (a 60 Hz source reads 60; one late or early frame does not move it); the target is judged on it, worst repetition. The busiest sliding 1-second window is shown too: it can hold 61 frames of a 60 Hz source when timers jitter. The Node scheduler keeps renders at least 1000/60 ms apart on `performance.now()` (a plain 16 ms timer allows 62.5 a second, more when Node fires it early).',
          '"Correct": the store equals the expected rows, the last render showed exactly that data, it came after the last update, and nothing was rejected.',
        ],
      },
    ],
    targets,
    data,
  };
}
