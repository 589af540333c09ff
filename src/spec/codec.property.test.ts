import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { collectSpecs, decodeSpec, decodeValue, decodeValues, encodeSpec, encodeValue, encodeValues, type JsonValue, type Spec } from './index.js';
import { anySpec, dataValue, extraFields, fieldValue, sharedArguments } from '../../test/support/spec/arbitraries.js';

/** What actually crosses the wire: JSON text. */
const overTheWire = <T>(json: T): T => JSON.parse(JSON.stringify(json)) as T;

function assertSameSpec(actual: Spec, expected: Spec): void {
  assert.equal(actual.constructor, expected.constructor);
  assert.deepEqual(encodeSpec(actual), encodeSpec(expected));
  for (const def of expected.layout.fields) {
    const got = actual.getField(def.name);
    const want = expected.getField(def.name);
    if (def.kind === 'specs') {
      const gotList = got as Spec[];
      const wantList = want as Spec[];
      assert.equal(gotList.length, wantList.length, def.name);
      gotList.forEach((s, i) => assertSameSpec(s, wantList[i] as Spec));
    } else {
      assert.deepStrictEqual(got, want, def.name);
    }
  }
  assert.deepStrictEqual(actual.extra, expected.extra);
}

describe('spec codec properties', () => {
  test('decode(encode(spec)) gives back the same spec, through JSON text', () => {
    fc.assert(
      fc.property(anySpec, (spec) => {
        const decoded = decodeSpec(overTheWire(encodeSpec(spec)));
        assertSameSpec(decoded, spec);
        assert.equal(decoded.hasChanges(), false);
      }),
      { numRuns: 200 },
    );
  });

  test('decodeValue(encodeValue(v)) is v for plain data with Dates, bigints and odd numbers', () => {
    fc.assert(
      fc.property(dataValue, (value) => {
        assert.deepStrictEqual(decodeValue(overTheWire(encodeValue(value))), value);
      }),
      { numRuns: 300 },
    );
  });

  test('arguments sharing specs decode to the same graph, sharing kept', () => {
    fc.assert(
      fc.property(sharedArguments, (args) => {
        const decoded = decodeValues(overTheWire(encodeValues(args)));
        const before = collectSpecs(args);
        const after = collectSpecs(decoded);
        assert.equal(after.length, before.length);
        after.forEach((spec, i) => assert.ok(spec.equals(before[i] as Spec), `spec ${i}`));
        // Each spec is sent once: the remote side holds as many distinct specs as the caller.
        assert.deepEqual(encodeValues(decoded), encodeValues(args));
      }),
      { numRuns: 150 },
    );
  });

  test('collectSpecs order is identical on a value and on its decoded copy', () => {
    const value = fc.oneof(sharedArguments, fc.array(anySpec, { maxLength: 3 }), anySpec.map((s) => ({ wrapped: [s, { again: s }] })));
    fc.assert(
      fc.property(value, (v) => {
        const before = collectSpecs(v);
        const after = collectSpecs(decodeValue(overTheWire(encodeValue(v))));
        assert.deepEqual(
          after.map((s) => encodeSpec(s)),
          before.map((s) => encodeSpec(s)),
        );
      }),
      { numRuns: 150 },
    );
  });

  test('applying the changes of a modified copy, spec by spec, makes the original equal to the copy', () => {
    fc.assert(
      fc.property(anySpec, fc.gen(), (original, g) => {
        const copy = original.clone();
        const copies = collectSpecs(copy);
        for (const spec of copies) spec.resetChanges();
        const nModifications = g(() => fc.nat({ max: 6 }));
        for (let i = 0; i < nModifications; i++) {
          const target = copies[g(() => fc.nat({ max: copies.length - 1 }))] as Spec;
          if (g(() => fc.boolean())) {
            const [key, value] = Object.entries(g(() => extraFields.filter((e) => Object.keys(e).length > 0)))[0] as [string, unknown];
            target.setExtra(key, value);
          } else {
            const fields = target.layout.fields;
            const def = fields[g(() => fc.nat({ max: fields.length - 1 }))] as (typeof fields)[number];
            target.setField(def.name, g(() => fieldValue(def, 1)));
          }
        }
        // What the RPC layer does: each spec's changes, in collectSpecs order, travel as JSON.
        const mutations = copies.map((s) => (s.hasChanges() ? overTheWire(s.getChanges()) : null));
        const originals = collectSpecs(original);
        mutations.forEach((changes, i) => {
          if (changes !== null) originals[i]?.applyChanges(changes as Record<string, JsonValue>);
        });
        assert.ok(original.equals(copy), 'original equals the modified copy');
        assertSameSpec(original, copy);
      }),
      { numRuns: 200 },
    );
  });

  test('top-level changes alone suffice when only top-level fields were modified', () => {
    fc.assert(
      fc.property(anySpec, fc.gen(), (original, g) => {
        const copy = original.clone();
        const fields = copy.layout.fields;
        for (const def of g(() => fc.subarray([...fields]))) copy.setField(def.name, g(() => fieldValue(def, 1)));
        original.applyChanges(overTheWire(copy.getChanges()));
        assert.ok(original.equals(copy));
        assert.deepEqual(new Set(original.changedFields()), new Set(copy.changedFields()));
      }),
      { numRuns: 200 },
    );
  });
});
