// The spec layer's public API: the data model (WorkSpec, JobSpec, FileSpec, EventSpec) and its codec.
// Importing this module loads every spec kind, which the decoder needs to rebuild specs by kind.
export type { JsonValue, JsonObject } from './json.js';
export { isPlainObject } from './json.js';
export { SpecDecodeError, SpecEncodeError, SpecFieldError, SpecStateError } from './errors.js';
export { specKinds, sqlTypeOf, type ColumnDef, type ColumnKind, type NonColumnDef, type SpecKind, type SpecSchema } from './schema.js';
export { Spec, fieldProblem, jsonEqual, type EncodedFields, type FieldDef, type SpecStatics } from './spec.js';
export { collectSpecs, decodeSpec, decodeValue, decodeValues, encodeSpec, encodeValue, encodeValues } from './codec.js';
export { WorkSpec, workSpecSchema, workerStatuses, finalWorkerStatuses, monitoredWorkerStatuses, mapTypes, type MapType, type WorkSpecFields, type WorkerStatus } from './work-spec.js';
export { JobSpec, jobSpecSchema, jobStatuses, jobSubStatuses, type InputFileAttributes, type JobSpecFields, type JobStatus, type JobSubStatus } from './job-spec.js';
export { FileSpec, fileSpecSchema, fileStatuses, fileTypes, type FileSpecFields, type FileStatus, type FileType } from './file-spec.js';
export { EventSpec, eventSpecSchema, eventStatuses, eventSubStatuses, type EventSpecFields } from './event-spec.js';
