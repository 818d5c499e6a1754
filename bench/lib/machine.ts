/** What the results were measured on: printed with every report. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  availableParallelism: number;
  memoryGiB: number;
  os: string;
  node: string;
  libraries: Record<string, string>;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function versionOf(packageJson: string): string {
  try {
    return (JSON.parse(readFileSync(`${ROOT}${packageJson}`, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: os.totalmem() / 2 ** 30,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    libraries: {
      statesocket: versionOf('package.json'),
      ...Object.fromEntries(
        ['xstate', 'ws', 'partysocket', 'reconnecting-websocket'].map((name) => [name, versionOf(`node_modules/${name}/package.json`)]),
      ),
    },
  };
}
