// Formats of files the messenger writes for the payload, as harvester writes them: the job spec file (json
// {PandaID: jobParams} or cgi-encoded jobParams), the pool file catalog of input files, and the log
// tarball's file name patterns.
import type { JobSpec } from '../../spec/index.js';

/** jobParams keys harvester drops when stripJobParams is set (bulky dataset bookkeeping the pilot ignores). */
const strippedJobParams = new Set([
  'prodDBlocks',
  'realDatasetsIn',
  'dispatchDblock',
  'ddmEndPointIn',
  'scopeIn',
  'dispatchDBlockToken',
  'prodDBlockToken',
]);

export function jobParamsOf(jobSpec: JobSpec, strip: boolean): Record<string, unknown> {
  const params: Record<string, unknown> = { ...(jobSpec.jobParams ?? {}) };
  if (strip) for (const key of strippedJobParams) delete params[key];
  return params;
}

function pythonText(value: unknown): string {
  // Python's urlencode calls str() on each value.
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function cgiEncode(params: Record<string, unknown>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) search.append(key, pythonText(value));
  return search.toString();
}

function xmlAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** LFN -> GUID of a job's input files, from jobParams (comma-separated inFiles / GUID), as harvester reads them. */
export function inputGuids(jobSpec: JobSpec): Map<string, string> {
  const params = jobSpec.jobParams ?? {};
  const lfns = typeof params.inFiles === 'string' ? params.inFiles.split(',') : [];
  const guids = typeof params.GUID === 'string' ? params.GUID.split(',') : [];
  const result = new Map<string, string>();
  lfns.forEach((lfn, i) => {
    if (lfn !== '' && lfn !== 'NULL') result.set(lfn, guids[i] ?? '');
  });
  for (const fileSpec of jobSpec.inFiles) if (fileSpec.lfn !== null && !result.has(fileSpec.lfn)) result.set(fileSpec.lfn, '');
  return result;
}

/** harvester's core_utils.make_pool_file_catalog: one entry per input LFN across the jobs, named by LFN. */
export function poolFileCatalog(jobSpecs: readonly JobSpec[]): string {
  const lines = ['<?xml version="1.0" ?>', '<!DOCTYPE POOLFILECATALOG  SYSTEM "InMemory">', '<POOLFILECATALOG>'];
  const done = new Set<string>();
  for (const jobSpec of jobSpecs) {
    for (const [lfn, guid] of inputGuids(jobSpec)) {
      if (done.has(lfn)) continue;
      done.add(lfn);
      lines.push(
        `  <File ID="${xmlAttribute(guid)}">`,
        '    <physical>',
        `      <pfn filetype="ROOT_All" name="${xmlAttribute(lfn)}"/>`,
        '    </physical>',
        '    <logical/>',
        '  </File>',
      );
    }
  }
  lines.push('</POOLFILECATALOG>');
  return lines.join('\n') + '\n';
}

/** fnmatch-style pattern (*, ?) as a whole-name regular expression. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Files harvester puts into a worker's log tarball. */
export const logTarballPatterns = ['*.log', '*.txt', '*.xml', '*.json', 'log*'].map(globToRegExp);
