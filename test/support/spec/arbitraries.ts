// fast-check generators for specs and the values they carry. Test support only (fast-check is a dev
// dependency): not exported from the spec index; other layers' property tests may import it directly.
import fc from 'fast-check';
import type { FieldDef } from '../../../src/spec/spec.js';
import type { Spec, SpecKind } from '../../../src/spec/index.js';
import { EventSpec, FileSpec, JobSpec, WorkSpec } from '../../../src/spec/index.js';

const classes = { WorkSpec, JobSpec, FileSpec, EventSpec } as const;
interface SpecByKind {
  WorkSpec: WorkSpec;
  JobSpec: JobSpec;
  FileSpec: FileSpec;
  EventSpec: EventSpec;
}

/** Object keys, including the awkward ones: tag look-alikes and "__proto__". */
export const objectKey = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom('$date', '$spec', '$ref', '$esc', '$', '__proto__', 'fields', 'extra', '0') },
);

/** Any value the codec must carry exactly: JSON, numbers JSON cannot write, Dates, bigints, nesting. */
export const dataValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer(),
    fc.string({ maxLength: 12 }),
    fc.bigInt(),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(objectKey, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

export const dictValue = fc.dictionary(objectKey, dataValue, { maxKeys: 4, noNullPrototype: true });

/** A value fitting one field (non-column spec lists excepted: see fieldValue). */
function scalarFieldValue(def: FieldDef): fc.Arbitrary<unknown> {
  const nullable = (arb: fc.Arbitrary<unknown>) => fc.option(arb, { nil: null, freq: 3 });
  switch (def.kind) {
    case 'integer':
      return nullable(fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double()));
    case 'text':
      return nullable(fc.string({ maxLength: 16 }));
    case 'timestamp':
      return nullable(fc.date({ noInvalidDate: true }));
    case 'dict':
      return nullable(dictValue);
    case 'blob':
      return dataValue;
    case 'flag':
      return fc.boolean();
    case 'specs':
      return fc.constant([]);
  }
}

/** A value for a field; spec lists get specs `depth` levels deep. */
export function fieldValue(def: FieldDef, depth: number): fc.Arbitrary<unknown> {
  if (def.kind !== 'specs') return scalarFieldValue(def);
  if (depth <= 0) return fc.constant([]);
  return fc.array(specOf(def.specKind, depth - 1), { maxLength: 2 });
}

/** Extra keys never clash with field names: they carry a prefix no field has. */
export const extraFields = fc.dictionary(fc.string({ maxLength: 6 }).map((k) => `x_${k}`), dataValue, { maxKeys: 3, noNullPrototype: true });

/** A spec of one kind with random fields, random extra fields and (depth > 0) nested specs; no pending changes. */
export function specOf<K extends SpecKind>(kind: K, depth = 1): fc.Arbitrary<SpecByKind[K]> {
  const cls = classes[kind] as unknown as new () => SpecByKind[K];
  const fields = new cls().layout.fields;
  return fc
    .tuple(fc.tuple(...fields.map((def) => fieldValue(def, depth))), extraFields)
    .map(([values, extra]) => {
      const spec = new cls();
      fields.forEach((def, i) => spec.setField(def.name, values[i]));
      spec.extra = extra;
      spec.resetChanges();
      return spec;
    });
}

export const anySpec: fc.Arbitrary<Spec> = fc.oneof(specOf('WorkSpec', 2), specOf('JobSpec', 1), specOf('FileSpec', 1), specOf('EventSpec'));

/**
 * Call arguments as agents build them: workers whose jobSpecs are the same objects as a jobs argument,
 * mixed with plain data, so specs are shared between arguments.
 */
export const sharedArguments: fc.Arbitrary<unknown[]> = fc
  .tuple(
    fc.array(specOf('JobSpec', 1), { minLength: 1, maxLength: 3 }),
    fc.array(specOf('WorkSpec', 0), { maxLength: 3 }),
    fc.array(fc.array(fc.nat(), { maxLength: 3 }), { maxLength: 3 }),
    fc.array(fc.option(fc.nat()), { maxLength: 3 }),
    dataValue,
  )
  .map(([jobs, workers, picks, related, data]) => {
    workers.forEach((worker, i) => {
      worker.jobSpecs = (picks[i] ?? []).map((p) => jobs[p % jobs.length] as JobSpec);
      // A spec in extra (before or after its place in jobSpecs) checks that extra is walked after the fields.
      const r = related[i];
      if (r !== undefined && r !== null) worker.extra['x_related'] = jobs[r % jobs.length];
      worker.resetChanges();
    });
    return [workers, jobs, { data, first: jobs[0] }, workers[0] ?? null];
  });
