// The fake server's legacy API, as a server before 1.0 answers it: form parameters, JobDispatcher's
// {StatusCode, ...} answers and the harvester API's [ok, payload] pairs.
import type { FakePandaState } from './fake-panda-state.js';

export interface LegacyAnswer {
  readonly type: string;
  readonly body: string;
}

type Handler = (form: Readonly<Record<string, string>>, state: FakePandaState) => LegacyAnswer;

const json = (value: unknown): LegacyAnswer => ({ type: 'application/json', body: JSON.stringify(value) });
/** JobDispatcher's Response.encode(acceptJson=True) as updateJobsInBulk lists it. */
const encoded = (data: Record<string, unknown>): Record<string, unknown> => ({ type: 'json', content: JSON.stringify(data) });

export const legacyHandlers: Readonly<Record<string, Handler>> = {
  isAlive: () => ({ type: 'text/plain', body: 'alive=yes' }),
  getJob: (form, state) => {
    const jobs = state.takeJobs(form['siteName'] ?? '', Number(form['nJobs'] ?? '1'));
    if (jobs.length === 0) return json({ StatusCode: 20, errorDialog: 'no jobs in PanDA' });
    return json({ StatusCode: 0, jobs: jobs.map((job) => ({ StatusCode: 0, ...job, nSent: 0 })) });
  },
  updateJobsInBulk: (form, state) => {
    const list = JSON.parse(form['jobList'] ?? '') as Record<string, unknown>[];
    return json([true, list.map((entry) => {
      const command = state.updateJob(Number(entry['jobId']), entry);
      return encoded(command === null ? { StatusCode: 30 } : { StatusCode: 0, command });
    })]);
  },
  updateWorkers: (form, state) => {
    let workers: unknown;
    try {
      workers = JSON.parse(form['workers'] ?? '');
    } catch {
      return json([false, 'failed to decode json']);
    }
    return json([true, state.updateWorkers(workers as Record<string, unknown>[])]);
  },
  harvesterIsAlive: (form, state) => {
    state.heartbeats.push({ harvesterID: form['harvesterID'] ?? '', data: JSON.parse(form['data'] ?? '{}') as Record<string, unknown> });
    return json([true, 'succeeded']);
  },
  checkJobStatus: (form, state) =>
    json({ StatusCode: 0, data: (form['ids'] ?? '').split(',').map((id) => ({ status: state.jobStatus(Number(id)) ?? 'unknown', command: null })) }),
  getEventRanges: (form, state) => json({ StatusCode: 0, eventRanges: state.takeEventRanges(Number(form['pandaID']), Number(form['nRanges'] ?? '10')) }),
  updateEventRanges: (form, state) => {
    const returns = state.updateEvents(JSON.parse(form['eventRanges'] ?? '[]') as { eventRanges: Record<string, unknown>[] }[]);
    return json({ StatusCode: 0, Returns: returns, Command: {} });
  },
  getCommands: (form, state) => json({ StatusCode: 0, Returns: 0, Commands: state.takeCommands(Number(form['n_commands'] ?? '1')) }),
  ackCommands: (form, state) => {
    state.acknowledgeCommands(JSON.parse(form['command_ids'] ?? '[]') as number[]);
    return json({ StatusCode: 0, Returns: 0 });
  },
  reportWorkerStats_jobtype: (form, state) => {
    state.workerStats.set(form['siteName'] ?? '', JSON.parse(form['paramsList'] ?? '{}'));
    return json([true, 'OK']);
  },
  updateServiceMetrics: (form, state) => {
    state.serviceMetrics.push(...(JSON.parse(form['metrics'] ?? '[]') as unknown[]));
    return json([true, 'OK']);
  },
  addHarvesterDialogs: (form, state) => {
    state.dialogs.push(...(JSON.parse(form['dialogs'] ?? '[]') as unknown[]));
    return json([true, 'OK']);
  },
};
