// Typed errors of the spec layer. Each names where the problem is (a path into the value or the JSON),
// so an operator reading a log line from the herder or the bot can find the offending field.

/** A path like `$[0].fields.jobSpecs[2].fields.PandaID`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '$';
  for (const step of path) {
    out += typeof step === 'number' ? `[${step}]` : /^[A-Za-z_$][\w$]*$/.test(step) ? `.${step}` : `[${JSON.stringify(step)}]`;
  }
  return out;
}

/** JSON that is not a valid encoding (unknown tag, wrong field type, bad date...). */
export class SpecDecodeError extends Error {
  override readonly name = 'SpecDecodeError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot decode ${path}: ${reason}`);
  }
}

/** A value that has no JSON encoding (function, Map, class instance, cycle, invalid Date...). */
export class SpecEncodeError extends Error {
  override readonly name = 'SpecEncodeError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot encode ${path}: ${reason}`);
  }
}

/** A field set to a value of the wrong kind, or a name that is no field of the spec. */
export class SpecFieldError extends Error {
  override readonly name = 'SpecFieldError';
  constructor(
    readonly specKind: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${specKind}.${field}: ${reason}`);
  }
}

/** A helper method called on a spec that lacks what it needs (e.g. jobParams not set). */
export class SpecStateError extends Error {
  override readonly name = 'SpecStateError';
  constructor(
    readonly specKind: string,
    readonly id: string | number | bigint | null,
    reason: string,
  ) {
    super(`${specKind} ${id === null ? '(no id)' : String(id)}: ${reason}`);
  }
}
