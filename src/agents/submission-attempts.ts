// How many submission attempts a queue's jobs get: the queue's own maxSubmissionAttempts (harvester reads it
// per queue), else the submitter agent's setting in harvester.json. The submitter (a failed submission) and
// the monitor (a worker sent back to 'ready') both decide with it.
import type { QueueConfig } from '../config/index.js';
import type { AgentEnvironment } from './environment.js';

export function maxSubmissionAttemptsOf(queue: QueueConfig, settings: AgentEnvironment['settings']): number {
  return queue.maxSubmissionAttempts ?? settings.submitter.maxSubmissionAttempts;
}
