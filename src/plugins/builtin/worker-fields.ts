// Small helpers over WorkSpec shared by the built-ins.
import type { WorkSpec } from '../../spec/index.js';

/** The worker's access point, or undefined when none was set (the caller turns that into an outcome). */
export function accessPointOf(workSpec: WorkSpec): string | undefined {
  const accessPoint: unknown = workSpec.accessPoint;
  return typeof accessPoint === 'string' && accessPoint !== '' ? accessPoint : undefined;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}
