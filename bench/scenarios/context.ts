/** What every scenario receives, and what it returns to the runner. */
import type { Profile } from '../lib/profile.js';
import type { ScenarioOutcome } from '../lib/report.js';

export interface ScenarioContext {
  profile: Profile;
  /** A progress line on stderr. */
  log: (line: string) => void;
}

export type ScenarioResult = Omit<ScenarioOutcome, 'id' | 'title' | 'seconds' | 'error'>;
