// harvester names plugin methods in snake_case ("trigger_stage_out"); our contracts use camelCase. Kept here
// (not imported from plugins/) because config sits below plugins in the layers.

/** `trigger_stage_out` -> `triggerStageOut`; a name already in camelCase is returned unchanged. */
export function methodNameToCamelCase(name: string): string {
  return name.replace(/_+([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}
