// PanDA job dicts as the server's getJob hands them out (pandaserver/jobdispatcher/Protocol.py, appendJob):
// per-file attributes as comma-separated lists in the same order, outputs and the log in outFiles, the log's
// scope apart in scopeLog. For the fake server and tests.

export interface PandaInputFile {
  readonly lfn: string;
  readonly guid?: string;
  readonly fsize?: number;
  readonly checksum?: string;
  readonly scope?: string;
  readonly dataset?: string;
  readonly ddmEndPoint?: string;
}

export interface PandaOutputFile {
  readonly lfn: string;
  readonly guid?: string;
  readonly scope?: string;
  readonly dataset?: string;
  readonly ddmEndPoint?: string;
}

export interface PandaJobOptions {
  readonly PandaID: number;
  readonly taskID?: number | 'NULL';
  readonly jobsetID?: number | 'NULL';
  readonly attemptNr?: number;
  readonly currentPriority?: number;
  readonly prodSourceLabel?: string;
  readonly transformation?: string;
  readonly jobPars?: string;
  readonly coreCount?: number;
  readonly inFiles?: readonly PandaInputFile[];
  readonly outFiles?: readonly PandaOutputFile[];
  readonly logFile?: PandaOutputFile;
  /** Further keys, added as they are. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

const join = (values: readonly (string | number | undefined)[]): string => values.map((v) => (v === undefined ? '' : String(v))).join(',');

export function pandaJobDict(o: PandaJobOptions): Record<string, unknown> {
  const inputs = o.inFiles ?? [];
  const outputs = [...(o.outFiles ?? []), ...(o.logFile === undefined ? [] : [o.logFile])];
  return {
    PandaID: o.PandaID,
    taskID: o.taskID ?? 'NULL',
    jobsetID: o.jobsetID ?? 'NULL',
    attemptNr: o.attemptNr ?? 1,
    currentPriority: o.currentPriority ?? 1000,
    prodSourceLabel: o.prodSourceLabel ?? 'managed',
    transformation: o.transformation ?? 'echo',
    jobPars: o.jobPars ?? '',
    coreCount: o.coreCount ?? 1,
    jobName: `job-${o.PandaID}`,
    swRelease: 'NULL',
    homepackage: 'NULL',
    inFiles: join(inputs.map((f) => f.lfn)),
    GUID: join(inputs.map((f) => f.guid ?? `guid-${f.lfn}`)),
    fsize: join(inputs.map((f) => f.fsize ?? 0)),
    checksum: join(inputs.map((f) => f.checksum ?? '')),
    scopeIn: join(inputs.map((f) => f.scope ?? 'mc16')),
    realDatasetsIn: join(inputs.map((f) => f.dataset ?? 'dataset.in')),
    ddmEndPointIn: join(inputs.map((f) => f.ddmEndPoint ?? '')),
    dispatchDblock: join(inputs.map(() => 'NULL')),
    prodDBlocks: join(inputs.map((f) => f.dataset ?? 'dataset.in')),
    outFiles: join(outputs.map((f) => f.lfn)),
    realDatasets: join(outputs.map((f) => f.dataset ?? 'dataset.out')),
    ddmEndPointOut: join(outputs.map((f) => f.ddmEndPoint ?? '')),
    destinationDblock: join(outputs.map((f) => f.dataset ?? 'dataset.out')),
    scopeOut: join((o.outFiles ?? []).map((f) => f.scope ?? 'mc16')),
    scopeLog: o.logFile?.scope ?? '',
    logFile: o.logFile?.lfn ?? '',
    logGUID: o.logFile?.guid ?? '',
    ...o.extra,
  };
}
