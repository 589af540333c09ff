// Replaying recorded SLURM command outputs (test/fixtures/slurm/*.json: {argv, exitCode, stdout, stderr,
// note}, recorded from slurm-wlm 22.05 on the testbed) to the SLURM plugins' injected command runner, and
// recording what the plugins asked for, so unit tests can assert one squeue per call, one scancel per batch.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandRequest, CommandResult, CommandRunner } from '../../src/plugins/batch/command-runner.js';

export interface SlurmFixture {
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly note: string;
}

/** This file is dist/test/support/; the fixtures stay in the source tree. */
const fixtureDir = fileURLToPath(new URL('../../../test/fixtures/slurm/', import.meta.url));

export function slurmFixture(name: string): SlurmFixture {
  return JSON.parse(readFileSync(`${fixtureDir}${name}.json`, 'utf8')) as SlurmFixture;
}

/** The example template shipped in the package (examples/slurm). */
export const exampleSlurmTemplate = fileURLToPath(new URL('../../../examples/slurm/harvester_slurm_submit.sh', import.meta.url));

/** A fixture's answer to whatever command was asked (the parsers read the output, not the argv). */
export function answerFrom(fixture: string | SlurmFixture, request: CommandRequest): CommandResult {
  const f = typeof fixture === 'string' ? slurmFixture(fixture) : fixture;
  return { argv: request.argv, exitCode: f.exitCode, stdout: f.stdout, stderr: f.stderr, durationMs: 1 };
}

/** How a replay answers one command of a tool: a fixture name, or a function (which may throw, or wait). */
export type Answer = string | ((request: CommandRequest) => CommandResult | Promise<CommandResult>);

/** A command runner answering per tool (sbatch, squeue, sacct, scancel) and keeping every request. */
export class SlurmReplay {
  readonly calls: CommandRequest[] = [];

  constructor(private readonly answers: Readonly<Partial<Record<string, Answer>>>) {}

  readonly run: CommandRunner = async (request) => {
    this.calls.push(request);
    const tool = basename(request.argv[0] ?? '');
    const answer = this.answers[tool];
    if (answer === undefined) throw new Error(`replay: no answer for ${tool} (${request.argv.join(' ')})`);
    return typeof answer === 'string' ? answerFrom(answer, request) : answer(request);
  };

  callsOf(tool: string): CommandRequest[] {
    return this.calls.filter((c) => basename(c.argv[0] ?? '') === tool);
  }
}

/** A successful command printing `stdout`. */
export function ok(request: CommandRequest, stdout = ''): CommandResult {
  return { argv: request.argv, exitCode: 0, stdout, stderr: '', durationMs: 1 };
}
