// FileSpec: one input, output or log file of a job. Fields follow harvester's harvestercore/file_spec.py.
import { columns, type SpecSchema } from './schema.js';
import { registerSpecClass, specBase } from './spec.js';

export const fileTypes = ['input', 'output', 'es_output', 'zip_output', 'log', 'aux_input'] as const;
export type FileType = (typeof fileTypes)[number];

/** The states harvester's preparator, stager and zipper move files through. */
export const fileStatuses = ['defined', 'preparing', 'to_prepare', 'ready', 'transferring', 'zipping', 'post_zipping', 'zipped', 'finished', 'failed', 'cancelled'] as const;
export type FileStatus = (typeof fileStatuses)[number];

export interface FileSpecFields {
  fileID: number | null;
  PandaID: number | null;
  taskID: number | null;
  lfn: string | null;
  status: FileStatus | null;
  fsize: number | null;
  chksum: string | null;
  path: string | null;
  fileType: FileType | null;
  eventRangeID: string | null;
  modificationTime: Date | null;
  fileAttributes: Record<string, unknown> | null;
  isZip: number | null;
  zipFileID: number | null;
  objstoreID: number | null;
  endpoint: string | null;
  groupID: string | null;
  groupStatus: string | null;
  groupUpdateTime: Date | null;
  attemptNr: number | null;
  todelete: number | null;
  scope: string | null;
  pathConvention: number | null;
  provenanceID: string | null;
  workerID: number | null;
  url: string | null;
  /** Not a column: the files zipped into this one (harvester's associatedFiles). */
  associatedFiles: FileSpec[];
}

export const fileSpecSchema: SpecSchema = {
  kind: 'FileSpec',
  columns: columns(
    'fileID:integer pk auto',
    'PandaID:integer index',
    'taskID:integer',
    'lfn:text index',
    'status:text index',
    'fsize:integer',
    'chksum:text',
    'path:text',
    'fileType:text',
    'eventRangeID:text',
    'modificationTime:timestamp',
    'fileAttributes:dict',
    'isZip:integer',
    'zipFileID:integer index',
    'objstoreID:integer',
    'endpoint:text',
    'groupID:text index',
    'groupStatus:text index',
    'groupUpdateTime:timestamp index',
    'attemptNr:integer =0',
    'todelete:integer index =0',
    'scope:text',
    'pathConvention:integer',
    'provenanceID:text index',
    'workerID:integer index',
    'url:text',
  ),
  nonColumns: [{ name: 'associatedFiles', kind: 'specs', specKind: 'FileSpec' }],
};

export class FileSpec extends specBase<FileSpecFields>(fileSpecSchema) {
  static readonly AUX_INPUT = 'aux_input';

  /** Adds a file zipped into this one (once). */
  addAssociatedFile(fileSpec: FileSpec): void {
    if (!this.associatedFiles.includes(fileSpec)) this.associatedFiles = [...this.associatedFiles, fileSpec];
  }
}
registerSpecClass(FileSpec);
