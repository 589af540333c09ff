// Collects the problems and warnings of one file, tagged with the queue being looked at, so every check can
// report and carry on: an operator fixing a file wants every mistake at once, not one per run.
import { jsonPath, type ConfigProblem } from './problems.js';

export class ProblemCollector {
  readonly problems: ConfigProblem[] = [];
  readonly warnings: ConfigProblem[] = [];

  constructor(readonly file: string) {}

  forQueue(queue: string | undefined): QueueReporter {
    return new QueueReporter(this, queue);
  }
}

export class QueueReporter {
  private problemCount = 0;

  constructor(
    private readonly collector: ProblemCollector,
    readonly queue: string | undefined,
  ) {}

  /** Problems reported through this reporter so far: a queue with any is left out of the result. */
  get count(): number {
    return this.problemCount;
  }

  problem(path: string | readonly PropertyKey[], message: string): void {
    this.problemCount++;
    this.collector.problems.push(this.entry(path, message));
  }

  warning(path: string | readonly PropertyKey[], message: string): void {
    this.collector.warnings.push(this.entry(path, message));
  }

  private entry(path: string | readonly PropertyKey[], message: string): ConfigProblem {
    const p = typeof path === 'string' ? path : jsonPath(...path);
    return {
      file: this.collector.file,
      ...(this.queue === undefined ? {} : { queue: this.queue }),
      path: p,
      message,
    };
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON value named briefly for a message: its type, and the value itself when short. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 37)}...` : text}`;
}
