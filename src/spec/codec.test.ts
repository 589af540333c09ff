import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FileSpec, JobSpec, SpecDecodeError, SpecEncodeError, WorkSpec, collectSpecs, decodeSpec, decodeValue, decodeValues,
  encodeSpec, encodeValue, encodeValues, type JsonValue,
} from './index.js';

function decodeError(json: unknown, path: string, reason: RegExp): void {
  assert.throws(
    () => decodeValue(json as JsonValue),
    (e: unknown) => e instanceof SpecDecodeError && e.path === path && reason.test(e.reason),
  );
}

describe('encoding values', () => {
  test('Dates keep milliseconds and bigints beyond 2^53 keep every digit', () => {
    const value = { at: new Date('2024-02-29T23:59:59.999Z'), pandaID: 2n ** 64n + 1n };
    const json = encodeValue(value);
    assert.deepEqual(json, { at: { $date: '2024-02-29T23:59:59.999Z' }, pandaID: { $bigint: '18446744073709551617' } });
    assert.deepStrictEqual(decodeValue(JSON.parse(JSON.stringify(json)) as JsonValue), value);
  });

  test('numbers JSON cannot write survive', () => {
    const value = [NaN, Infinity, -Infinity, -0, 0, 1.5];
    assert.deepStrictEqual(decodeValue(JSON.parse(JSON.stringify(encodeValue(value))) as JsonValue), value);
  });

  test('undefined properties are dropped; undefined as a whole value or array item is kept', () => {
    assert.deepEqual(encodeValue({ a: undefined, b: 1 }), { b: 1 });
    assert.equal(decodeValue(encodeValue(undefined)), undefined);
    assert.deepStrictEqual(decodeValue(encodeValue([1, undefined])), [1, undefined]);
  });

  test('user objects with tag-like keys or __proto__ round-trip exactly', () => {
    const value = JSON.parse('{"$date": "not a date", "__proto__": {"x": 1}, "$spec": {"$ref": 0}}') as Record<string, unknown>;
    const decoded = decodeValue(JSON.parse(JSON.stringify(encodeValue(value))) as JsonValue) as Record<string, unknown>;
    assert.deepStrictEqual(decoded, value);
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  });

  test('code and non-plain objects are refused with the path to them', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ a: [1, () => 1] }, '$.a[1]', /function is not data/],
      [{ m: new Map() }, '$.m', /Map is not plain data/],
      [{ d: new Date(NaN) }, '$.d', /invalid Date/],
      [[Symbol('s')], '$[0]', /symbol/],
    ];
    for (const [value, path, reason] of cases) {
      assert.throws(() => encodeValue(value), (e: unknown) => e instanceof SpecEncodeError && e.path === path && reason.test(e.reason));
    }
  });

  test('a cyclic plain structure is refused', () => {
    const a: Record<string, unknown> = {};
    a['self'] = { back: a };
    assert.throws(() => encodeValue(a), (e: unknown) => e instanceof SpecEncodeError && e.path === '$.self.back' && /cyclic/.test(e.reason));
  });
});

describe('encoding specs', () => {
  test('a spec encodes as $spec with the fields that differ from a new spec and its extra, nested specs inside', () => {
    const job = new JobSpec({ PandaID: 1 });
    job.addInFile(new FileSpec({ lfn: 'in' }));
    job.extra = { note: 'n' };
    const json = encodeSpec(job);
    assert.equal(json['$spec'], 'JobSpec');
    const fields = json['fields'] as Record<string, JsonValue>;
    // Fields still holding a new spec's initial value are left out: the decoder starts from the same values.
    assert.deepEqual(Object.keys(fields), ['PandaID', 'inFiles']);
    assert.equal((fields['inFiles'] as Record<string, JsonValue>[])[0]?.['$spec'], 'FileSpec');
    assert.deepEqual(json['extra'], { note: 'n' });
    const decoded = decodeSpec(json);
    assert.ok(decoded instanceof JobSpec && decoded.inFiles[0] instanceof FileSpec);
    assert.equal(decoded.inFiles[0].lfn, 'in');
  });

  test('a spec shared between arguments is sent once and arrives as one object', () => {
    const job = new JobSpec({ PandaID: 10 });
    const worker = new WorkSpec({ workerID: 1, jobSpecs: [job] });
    const json = encodeValues([worker, [job]]);
    assert.deepEqual(json[1], [{ $ref: 1 }]);
    const [w, jobs] = decodeValues(JSON.parse(JSON.stringify(json)) as JsonValue[]) as [WorkSpec, JobSpec[]];
    assert.equal(w.jobSpecs[0], jobs[0]);
    assert.equal(collectSpecs([w, jobs]).length, 2);
  });

  test('a $ref into another separately decoded value fails loudly rather than pairing wrong specs', () => {
    const job = new JobSpec({ PandaID: 10 });
    const json = encodeValues([job, job]);
    decodeError(json[1], '$', /\$ref 0 names no spec/);
  });

  test('a spec referring to itself round-trips', () => {
    const worker = new WorkSpec({ workerID: 4 });
    worker.extra = { self: worker };
    const decoded = decodeSpec(JSON.parse(JSON.stringify(encodeSpec(worker))) as JsonValue);
    assert.equal(decoded.extra['self'], decoded);
  });

  test('fields a newer peer sends are kept in extra and sent on', () => {
    const json = encodeSpec(new FileSpec({ lfn: 'f' }));
    (json['fields'] as Record<string, JsonValue>)['newColumn'] = 'v';
    const decoded = decodeSpec(json);
    assert.deepEqual(decoded.extra, { newColumn: 'v' });
    assert.deepEqual((encodeSpec(decoded)['extra'] as Record<string, JsonValue>)['newColumn'], 'v');
  });

  test('an extra key named like a field is refused when encoding', () => {
    const file = new FileSpec();
    file.extra = { lfn: 'x' };
    assert.throws(() => encodeSpec(file), (e: unknown) => e instanceof SpecEncodeError && e.path === '$.extra.lfn');
  });
});

describe('decoding errors name the path', () => {
  const spec = (fields: Record<string, unknown>, kind = 'WorkSpec') => ({ $spec: kind, fields, extra: {} });

  test('a field of the wrong kind', () => {
    decodeError([spec({ jobSpecs: [spec({ PandaID: 'x' }, 'JobSpec')] })], '$[0].fields.jobSpecs[0].fields.PandaID', /JobSpec\.PandaID: expected a number/);
  });

  test('a nested list holding the wrong spec kind', () => {
    decodeError(spec({ jobSpecs: [spec({}, 'FileSpec')] }), '$.fields.jobSpecs', /expected a JobSpec, got a FileSpec/);
  });

  test('an unknown spec kind, an unknown tag, stray keys', () => {
    decodeError({ a: spec({}, 'TaskSpec') }, '$.a.$spec', /unknown spec kind "TaskSpec"/);
    decodeError({ a: { $set: [] } }, '$.a', /unknown tag "\$set"/);
    decodeError({ ...spec({}), more: 1 }, '$', /unexpected keys in an encoded spec: more/);
    decodeError({ $date: '2024-01-01T00:00:00.000Z', x: 1 }, '$', /takes no other keys/);
  });

  test('malformed dates, bigints and numbers', () => {
    decodeError([{ $date: '2024-01-01' }], '$[0]', /ISO-8601/);
    decodeError([{ $date: '2024-02-31T00:00:00.000Zjunk' }], '$[0]', /ISO-8601/);
    decodeError({ n: { $bigint: '12a' } }, '$.n', /string of digits/);
    decodeError({ n: { $num: 'huge' } }, '$.n', /NaN, Infinity/);
  });

  test('values that are not JSON at all', () => {
    decodeError({ f: () => 1 }, '$.f', /not JSON/);
    decodeError([Infinity], '$[0]', /not a JSON number/);
  });

  test('decodeSpec wants a spec', () => {
    assert.throws(() => decodeSpec({ a: 1 }), SpecDecodeError);
    assert.throws(() => decodeSpec(encodeValue(new Date(0))), SpecDecodeError);
  });
});

describe('collectSpecs', () => {
  test('walks depth-first in field order, each spec once', () => {
    const shared = new FileSpec({ lfn: 'shared' });
    const jobA = new JobSpec({ PandaID: 1, inFiles: [shared], outFiles: [new FileSpec({ lfn: 'outA' })] });
    const jobB = new JobSpec({ PandaID: 2, inFiles: [shared] });
    const worker = new WorkSpec({ workerID: 1, jobSpecs: [jobA, jobB] });
    const names = collectSpecs([worker, { jobs: [jobB, jobA] }, 'text']).map((s) =>
      s instanceof WorkSpec ? `w${s.workerID}` : s instanceof JobSpec ? `j${s.PandaID}` : `f:${(s as FileSpec).lfn}`,
    );
    assert.deepEqual(names, ['w1', 'j1', 'f:shared', 'f:outA', 'j2']);
  });
});
