// Things that must not outlive the benchmark (the bot on hpc, the echo server, scratch directories), kept
// in one place so both the normal end and a SIGINT/SIGTERM run them. Failures are collected and reported,
// never dropped.
export class Cleanups {
  private readonly steps: { label: string; run: () => Promise<void> }[] = [];

  /** Registers a step; returns a function that runs it now and unregisters it. */
  add(label: string, run: () => Promise<void>): () => Promise<void> {
    const step = { label, run };
    this.steps.push(step);
    return async () => {
      const index = this.steps.indexOf(step);
      if (index < 0) return;
      this.steps.splice(index, 1);
      await run();
    };
  }

  /** Runs every remaining step, newest first; throws an AggregateError naming the ones that failed. */
  async runAll(): Promise<void> {
    const failures: Error[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.run();
      } catch (error) {
        failures.push(new Error(`cleanup '${step.label}' failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      }
    }
    if (failures.length > 0) throw new AggregateError(failures, failures.map((f) => f.message).join('; '));
  }
}

/** On SIGINT/SIGTERM: run the cleanups, then exit 130/143. A second signal while cleaning up is ignored. */
export function cleanUpOnSignals(cleanups: Cleanups, progress: (line: string) => void): void {
  let cleaning = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (cleaning) return;
    cleaning = true;
    progress(`${signal}: cleaning up before exiting`);
    cleanups.runAll().then(
      () => process.exit(signal === 'SIGINT' ? 130 : 143),
      (error: unknown) => {
        progress(`cleanup after ${signal} failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
