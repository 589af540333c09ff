import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MIN_MASKED_SECRET_LENGTH, SecretRegistry } from './secrets.js';

describe('SecretRegistry', () => {
  test('replaces every occurrence of a registered secret with ***', () => {
    const secrets = new SecretRegistry();
    assert.equal(secrets.register('s3cr3t!'), true);
    assert.equal(secrets.mask('a s3cr3t! b s3cr3t!'), 'a *** b ***');
  });

  test('empty, blank and short values are refused and mask nothing', () => {
    const secrets = new SecretRegistry();
    for (const value of ['', '   ', 'a', 'ab', 'abc', ' ab ']) assert.equal(secrets.register(value), false, JSON.stringify(value));
    assert.equal(secrets.size, 0);
    assert.equal(secrets.mask('abc ab a'), 'abc ab a');
  });

  test(`a value of ${MIN_MASKED_SECRET_LENGTH} characters is masked`, () => {
    const secrets = new SecretRegistry();
    assert.equal(secrets.register('abcd'), true);
    assert.equal(secrets.mask('xabcdx'), 'x***x');
  });

  test('a secret containing another registered secret is masked whole', () => {
    const secrets = new SecretRegistry();
    secrets.register('abcd');
    secrets.register('abcdefgh');
    assert.equal(secrets.mask('[abcdefgh] [abcd]'), '[***] [***]');
  });

  test('regex metacharacters in a secret are taken literally', () => {
    const secrets = new SecretRegistry();
    secrets.register('a.b*c+(d)$');
    assert.equal(secrets.mask('x a.b*c+(d)$ aXbbc'), 'x *** aXbbc');
  });

  test('no masked text contains a registered secret (property)', () => {
    fc.assert(
      fc.property(
        // Without '*', so the mask itself can never spell a secret together with its neighbours.
        fc.array(
          fc.string({ minLength: MIN_MASKED_SECRET_LENGTH, maxLength: 12 }).filter((s) => !s.includes('*')),
          { minLength: 1, maxLength: 4 },
        ),
        fc.array(fc.string({ maxLength: 8 }), { maxLength: 6 }),
        (values, fillers) => {
          const secrets = new SecretRegistry();
          const registered = values.filter((v) => secrets.register(v));
          const text = fillers.map((f, i) => `${f}${values[i % values.length] ?? ''}`).join('|');
          const masked = secrets.mask(text);
          for (const v of registered) assert.ok(!masked.includes(v), `${JSON.stringify(v)} in ${JSON.stringify(masked)}`);
        },
      ),
    );
  });
});
