// What the client asks of a PanDA server, as a table of calls, and the dialect contract that says how one API
// spells each call: which server function it reaches (path, HTTP method, parameter encoding), the parameters
// in the server's names, and how the answer reads. The client's logic (chunking, conversion, per-item results,
// errors) is written once against this contract; API v1 and the legacy API are two tables behind it.
import type { ParameterEncoding } from './http-transport.js';

/** One server function as the transport calls it. */
export interface ApiFunction {
  /** For messages and logs: "pilot/acquire_jobs", "getJob". */
  readonly name: string;
  /** Appended to the dialect's base URL. */
  readonly path: string;
  readonly httpMethod: 'GET' | 'POST';
  readonly encoding: ParameterEncoding;
}

export interface GetJobsArgs {
  readonly siteName: string;
  readonly nodeName: string;
  readonly prodSourceLabel: string;
  readonly computingElement: string;
  readonly nJobs: number;
  readonly schedulerId: string;
  readonly resourceType?: string | undefined;
  readonly jobType?: string | undefined;
  readonly additionalCriteria?: Readonly<Record<string, string | number | boolean>> | undefined;
}

/** The job dicts handed out, or none with the server's reason (an empty queue, a refusal): never an error. */
export type JobsAnswer = { readonly jobs: readonly unknown[] } | { readonly none: string };

/** One job's answer to a bulk update; `problem` when the server gave none that can be read. */
export type JobAnswer =
  | { readonly statusCode: number; readonly command: string | null; readonly errorDiag: string | null; readonly response: Readonly<Record<string, unknown>> }
  | { readonly problem: string };

/** Every call: its arguments in our terms, and what its answer means once read. */
export interface PandaCalls {
  isAlive: { args: Record<string, never>; result: { alive: boolean; text: string } };
  getJobs: { args: GetJobsArgs; result: JobsAnswer };
  /** `jobs`: harvester's job report dicts (job-report.ts), one per job; the result has one entry per job. */
  updateJobs: { args: { harvesterId: string; jobs: readonly Record<string, unknown>[] }; result: JobAnswer[] };
  updateWorkers: { args: { harvesterId: string; workers: readonly Record<string, unknown>[] }; result: readonly unknown[] };
  heartbeat: { args: { harvesterId: string; data: Readonly<Record<string, unknown>> }; result: string };
  /** Each job's status in PanDA and the command for it, in the order asked (harvester's check_jobs). */
  checkJobs: { args: { pandaIDs: readonly number[] }; result: readonly unknown[] };
  acquireEventRanges: {
    args: { pandaID: number; jobsetID: number | null; taskID: number | null; nRanges: number; scattered: boolean };
    result: readonly unknown[];
  };
  updateEventRanges: { args: { updates: readonly unknown[] }; result: { returns: readonly unknown[]; command: unknown } };
  acquireCommands: { args: { harvesterId: string; nCommands: number }; result: readonly unknown[] };
  acknowledgeCommands: { args: { commandIds: readonly number[] }; result: void };
  reportWorkerStats: { args: { harvesterId: string; siteName: string; stats: Readonly<Record<string, unknown>> }; result: void };
  updateServiceMetrics: { args: { harvesterId: string; metrics: readonly unknown[] }; result: void };
  addDialogs: { args: { harvesterId: string; dialogs: readonly Readonly<Record<string, unknown>>[] }; result: void };
}
export type PandaCall = keyof PandaCalls;

/** An answer that says something other than the call's result: refused by the server, or unreadable. */
export class AnswerProblem extends Error {
  constructor(
    readonly kind: 'refused' | 'malformed',
    readonly detail: string,
    /** PanDA's StatusCode, when the refusal carries one. */
    readonly statusCode: number | null = null,
  ) {
    super(detail);
    this.name = 'AnswerProblem';
  }
}

export interface Endpoint<A, R> {
  readonly fn: ApiFunction;
  /** Whether sending it twice is harmless (retried after a timeout or a 5xx). */
  readonly idempotent: boolean;
  /** The parameters in the server's names. */
  encode(args: A): Record<string, unknown>;
  /** Reads the answer (`body` is the parsed JSON, `text` the raw text); throws AnswerProblem. */
  decode(body: unknown, text: string): R;
  /** Whether the answer is JSON to parse first (false: the raw text is enough). */
  readonly json: boolean;
}

/** An API of the PanDA server: where it lives and how it spells every call. */
export interface PandaDialect {
  readonly name: 'v1' | 'legacy';
  readonly endpoints: { readonly [C in PandaCall]: Endpoint<PandaCalls[C]['args'], PandaCalls[C]['result']> };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parameters with undefined values left out (they are the server's defaults). */
export function defined(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([, value]) => value !== undefined));
}
