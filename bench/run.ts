/**
 * Runs the scenarios of a profile one after another, collects their outcomes
 * (a failing scenario is reported, the others still run) and writes the
 * Markdown and JSON reports.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killAllChildren } from './lib/children.js';
import { machineInfo } from './lib/machine.js';
import type { Profile, ScenarioId } from './lib/profile.js';
import { toJson, toMarkdown, type Report, type ScenarioOutcome } from './lib/report.js';
import { wallNow } from './lib/time.js';
import type { ScenarioContext, ScenarioResult } from './scenarios/context.js';
import { browserScenario } from './scenarios/browser.js';
import { channelServerScenario } from './scenarios/channel-server.js';
import { channelsScenario } from './scenarios/channels.js';
import { engineBaselineScenario } from './scenarios/engine-baseline.js';
import { fanoutScenario } from './scenarios/fanout.js';
import { halfOpenScenario } from './scenarios/half-open.js';
import { machineScenario } from './scenarios/machine.js';
import { reconnectScenario } from './scenarios/reconnect.js';
import { serverFanoutScenario } from './scenarios/server-fanout.js';
import { renderScenario } from './scenarios/render.js';
import { slowConsumerScenario } from './scenarios/slow-consumer.js';
import { stormScenario } from './scenarios/storm.js';
import { throughputScenario } from './scenarios/throughput.js';

const SCENARIO_TABLE: Record<ScenarioId, { title: string; run: (ctx: ScenarioContext) => Promise<ScenarioResult> }> = {
  throughput: { title: '1. Inbound throughput', run: throughputScenario },
  fanout: { title: '2. Fan-in/out at scale', run: fanoutScenario },
  reconnect: { title: '3. Reconnect latency', run: reconnectScenario },
  storm: { title: '3b. Reconnect storm', run: stormScenario },
  'half-open': { title: '4. Half-open detection', run: halfOpenScenario },
  render: { title: '5. Render coalescing under a flood', run: renderScenario },
  machine: { title: '6. Machine overhead in isolation', run: machineScenario },
  'slow-consumer': { title: '7. Slow consumers', run: slowConsumerScenario },
  channels: { title: '8. Channels: subscribe latency, 1,000 channels on one connection', run: channelsScenario },
  'channel-server': { title: '9. A server with 10,000 channels and 1,000 connections', run: channelServerScenario },
  'server-fanout': { title: '10. Server fan-out: one feed to N connections (statesocket, raw ws, socket.io + Redis adapter)', run: serverFanoutScenario },
  'engine-baseline': { title: '11. The memory engine\'s path against the server before the engine interface (issue 14)', run: engineBaselineScenario },
  browser: { title: '12. Per message in Chromium: statesocket against the bare WebSocket (issue 15)', run: browserScenario },
};

export interface RunOptions {
  profile: Profile;
  scenarios: readonly ScenarioId[];
  outDir: string;
  log: (line: string) => void;
}

export async function runBench(options: RunOptions): Promise<{ report: Report; failed: number; files: string[] }> {
  const started = wallNow();
  const startedAt = new Date().toISOString();
  const outcomes: ScenarioOutcome[] = [];
  const ctx: ScenarioContext = { profile: options.profile, log: options.log };
  for (const id of options.scenarios) {
    const { title, run } = SCENARIO_TABLE[id];
    options.log(`── ${title}`);
    const t0 = wallNow();
    try {
      const result = await run(ctx);
      outcomes.push({ id, title, ...result, seconds: (wallNow() - t0) / 1000 });
    } catch (error) {
      killAllChildren();
      const message = error instanceof Error ? error.message : String(error);
      options.log(`${title} failed: ${message}`);
      outcomes.push({ id, title, params: {}, tables: [], targets: [], data: null, seconds: (wallNow() - t0) / 1000, error: message });
    }
    options.log(`   ${title}: ${((wallNow() - t0) / 1000).toFixed(1)} s`);
  }
  const report: Report = {
    machine: machineInfo(),
    profile: options.profile,
    startedAt,
    seconds: (wallNow() - started) / 1000,
    scenarios: outcomes,
  };
  mkdirSync(options.outDir, { recursive: true });
  const files = [join(options.outDir, 'RESULTS.md'), join(options.outDir, 'results.json')];
  writeFileSync(files[0]!, toMarkdown(report));
  writeFileSync(files[1]!, toJson(report));
  return { report, failed: outcomes.filter((o) => o.error !== undefined).length, files };
}
