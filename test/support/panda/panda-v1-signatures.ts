// The signatures of the PanDA server's API v1 functions our client reaches, transcribed from
// pandaserver/api/v1/{system,pilot,event,harvester}_api.py (each function's parameters, type hints and
// defaults, and the request_method/secure of its @request_validation), and the checks request_validation makes
// (api/v1/common.py) with the server's own messages. Kept apart from the client's table on purpose: the fake
// server must refuse what the real one refuses, not what our client happens to send.

/** Python's type hints, as request_validation checks them. */
export type PyType = 'str' | 'int' | 'float' | 'number' | 'bool' | 'list' | 'dict' | 'any';

export interface Parameter {
  readonly name: string;
  readonly type: PyType;
  /** No default in the signature: a call without it is an argument error. */
  readonly required: boolean;
}

export interface Signature {
  /** module/function, the path under /api/v1. */
  readonly name: string;
  readonly method: 'GET' | 'POST';
  /** @request_validation(secure=True): needs a client certificate or an accepted token. */
  readonly secure: boolean;
  readonly params: readonly Parameter[];
}

const req = (name: string, type: PyType): Parameter => ({ name, type, required: true });
const opt = (name: string, type: PyType): Parameter => ({ name, type, required: false });

/** update_job's parameters: update_jobs_bulk calls it (validated) with each dict of job_list. */
export const updateJobSignature: Signature = {
  name: 'pilot/update_job',
  method: 'POST',
  secure: true,
  params: [
    req('job_id', 'int'), req('job_status', 'str'), opt('job_output_report', 'str'), opt('node', 'str'),
    opt('cpu_consumption_time', 'int'), opt('cpu_consumption_unit', 'str'), opt('scheduler_id', 'str'), opt('pilot_id', 'str'),
    opt('site_name', 'str'), opt('pilot_log', 'str'), opt('meta_data', 'str'), opt('cpu_conversion_factor', 'float'),
    opt('trans_exit_code', 'int'), opt('pilot_error_code', 'int'), opt('pilot_error_diag', 'str'), opt('exe_error_code', 'int'),
    opt('exe_error_diag', 'str'), opt('pilot_timing', 'str'), opt('start_time', 'str'), opt('end_time', 'str'), opt('n_events', 'int'),
    opt('n_input_files', 'int'), opt('batch_id', 'str'), opt('attempt_nr', 'int'), opt('job_metrics', 'str'), opt('stdout', 'str'),
    opt('job_sub_status', 'str'), opt('core_count', 'int'), opt('max_rss', 'number'), opt('max_vmem', 'number'), opt('max_swap', 'number'),
    opt('max_pss', 'number'), opt('avg_rss', 'number'), opt('avg_vmem', 'number'), opt('avg_swap', 'number'), opt('avg_pss', 'number'),
    opt('tot_rchar', 'number'), opt('tot_wchar', 'number'), opt('tot_rbytes', 'number'), opt('tot_wbytes', 'number'),
    opt('rate_rchar', 'number'), opt('rate_wchar', 'number'), opt('rate_rbytes', 'number'), opt('rate_wbytes', 'number'),
    opt('corrupted_files', 'str'), opt('mean_core_count', 'int'), opt('cpu_architecture_level', 'str'), opt('grid', 'str'),
    opt('source_site', 'str'), opt('destination_site', 'str'), opt('timeout', 'int'),
  ],
};

export const v1Signatures: readonly Signature[] = [
  { name: 'system/is_alive', method: 'GET', secure: false, params: [] },
  {
    name: 'pilot/acquire_jobs',
    method: 'POST',
    secure: true,
    params: [
      req('site_name', 'str'), opt('timeout', 'int'), opt('memory', 'int'), opt('disk_space', 'int'), opt('prod_source_label', 'str'),
      opt('node', 'str'), opt('computing_element', 'str'), opt('prod_user_id', 'str'), opt('get_proxy_key', 'str'), opt('task_id', 'int'),
      opt('n_jobs', 'int'), opt('background', 'bool'), opt('resource_type', 'str'), opt('harvester_id', 'str'), opt('worker_id', 'int'),
      opt('scheduler_id', 'str'), opt('job_type', 'str'), opt('via_topic', 'bool'), opt('remaining_time', 'any'),
    ],
  },
  { name: 'pilot/update_jobs_bulk', method: 'POST', secure: true, params: [req('job_list', 'list'), opt('harvester_id', 'str')] },
  updateJobSignature,
  { name: 'job/get_status', method: 'GET', secure: true, params: [req('job_ids', 'list'), opt('timeout', 'int')] },
  { name: 'pilot/get_job_status', method: 'GET', secure: true, params: [req('job_ids', 'list'), opt('timeout', 'int')] },
  {
    name: 'event/acquire_event_ranges',
    method: 'POST',
    secure: true,
    params: [req('job_id', 'int'), req('jobset_id', 'int'), opt('task_id', 'int'), opt('n_ranges', 'int'), opt('timeout', 'int'), opt('scattered', 'bool'), opt('segment_id', 'int')],
  },
  { name: 'event/update_event_ranges', method: 'POST', secure: true, params: [req('event_ranges', 'str'), opt('timeout', 'int'), opt('version', 'int')] },
  { name: 'harvester/update_workers', method: 'POST', secure: true, params: [req('harvester_id', 'str'), req('workers', 'list')] },
  { name: 'harvester/update_service_metrics', method: 'POST', secure: true, params: [req('harvester_id', 'str'), req('metrics', 'list')] },
  { name: 'harvester/add_dialogs', method: 'POST', secure: true, params: [req('harvester_id', 'str'), req('dialogs', 'list')] },
  { name: 'harvester/heartbeat', method: 'POST', secure: true, params: [req('harvester_id', 'str'), opt('data', 'dict')] },
  { name: 'harvester/get_current_worker_id', method: 'GET', secure: true, params: [req('harvester_id', 'str')] },
  { name: 'harvester/get_worker_statistics', method: 'GET', secure: true, params: [] },
  { name: 'harvester/report_worker_statistics', method: 'POST', secure: true, params: [req('harvester_id', 'str'), req('panda_queue', 'str'), req('statistics', 'str')] },
  { name: 'harvester/acquire_commands', method: 'POST', secure: true, params: [req('harvester_id', 'str'), req('n_commands', 'int'), opt('timeout', 'int')] },
  { name: 'harvester/acknowledge_commands', method: 'POST', secure: true, params: [req('command_ids', 'list'), opt('timeout', 'int')] },
];

/** The methods of the legacy entry point our legacy dialect calls: server 1.0 answers each "403 ... is forbidden". */
export const legacyMethods: readonly string[] = [
  'isAlive', 'getJob', 'updateJobsInBulk', 'updateWorkers', 'harvesterIsAlive', 'getEventRanges', 'updateEventRanges',
  'getCommands', 'ackCommands', 'reportWorkerStats_jobtype', 'updateServiceMetrics', 'addHarvesterDialogs', 'checkJobStatus',
];

/** request_validation's messages (pandaserver/api/v1/common.py). */
export const MESSAGE_SSL = 'SSL secure connection is required';

function pyTypeOf(value: unknown): string {
  if (value === null) return 'NoneType';
  if (typeof value === 'string') return 'str';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (Array.isArray(value)) return 'list';
  return 'dict';
}

function fits(value: unknown, type: PyType): boolean {
  switch (type) {
    case 'any':
      return true;
    case 'str':
      return typeof value === 'string';
    case 'int':
      return typeof value === 'number' && Number.isInteger(value);
    case 'float':
    case 'number':
      return typeof value === 'number';
    case 'bool':
      return typeof value === 'boolean';
    case 'list':
      return Array.isArray(value);
    case 'dict':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
  }
}

/** GET parameters arrive as text; request_validation casts them to the hinted type. */
function castQuery(value: unknown, type: PyType): unknown {
  if (typeof value !== 'string') return value;
  if (type === 'int') return Number.isFinite(Number(value)) ? Math.trunc(Number(value)) : value;
  if (type === 'float' || type === 'number') return Number.isFinite(Number(value)) ? Number(value) : value;
  if (type === 'bool') return ['true', '1'].includes(value.toLowerCase());
  if (type === 'list') return [value];
  return value;
}

/**
 * request_validation's argument checks: binding the parameters to the signature (Python's messages for an
 * unexpected or missing argument), then each value against its type hint. Returns the refusal message, or
 * the parameters (cast for GET) when they bind.
 */
export function bindParameters(signature: Signature, params: Readonly<Record<string, unknown>>, httpMethod: string): { error: string } | { params: Record<string, unknown> } {
  const known = new Map(signature.params.map((p) => [p.name, p]));
  for (const name of Object.keys(params)) {
    if (!known.has(name)) return { error: `Argument error: got an unexpected keyword argument '${name}'` };
  }
  for (const p of signature.params) {
    if (p.required && !(p.name in params)) return { error: `Argument error: missing a required argument: '${p.name}'` };
  }
  const bound: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(params)) {
    const p = known.get(name) as Parameter;
    const value = httpMethod === 'GET' ? castQuery(raw, p.type) : raw;
    // A None for an optional parameter is its default: not checked.
    if (!(value === null && !p.required) && !fits(value, p.type)) {
      const hint = p.type === 'number' ? 'int | float' : p.type;
      return { error: `Type error: '${name}' must be of type ${hint}, got ${pyTypeOf(value)}.` };
    }
    bound[name] = value;
  }
  return { params: bound };
}
