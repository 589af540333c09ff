import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JsonSyntaxError, lineAndColumn, parseJsonText } from './json-text.js';

function faultOf(text: string): JsonSyntaxError {
  try {
    parseJsonText(text);
  } catch (error) {
    if (error instanceof JsonSyntaxError) return error;
    throw error;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be rejected`);
}

describe('parseJsonText', () => {
  test('parses valid JSON like JSON.parse', () => {
    assert.deepEqual(parseJsonText('{"a": [1, 2.5e3, "x\\n", true, null]}'), { a: [1, 2500, 'x\n', true, null] });
  });

  test('reports the line and column of an unexpected closing brace', () => {
    const fault = faultOf('{\n  "a": 1,\n  "b": }');
    assert.equal(fault.line, 3);
    assert.equal(fault.column, 8);
    assert.match(fault.message, /line 3, column 8/);
  });

  test('reports a missing comma between properties where the next property starts', () => {
    const fault = faultOf('{\n  "a": 1\n  "b": 2\n}');
    assert.deepEqual([fault.line, fault.column], [3, 3]);
    assert.match(fault.detail, /expected ',' or '}'/);
  });

  test('reports a trailing comma at the closing brace', () => {
    const fault = faultOf('{"a": 1,\n}');
    assert.deepEqual([fault.line, fault.column], [2, 1]);
    assert.match(fault.detail, /double-quoted property name/);
  });

  test('reports truncated input at its end', () => {
    const fault = faultOf('{\n "a": [1,\n');
    assert.deepEqual([fault.line, fault.column], [3, 1]);
    assert.match(fault.detail, /end of input/);
  });

  test('does not echo the text in its message (it may hold a password)', () => {
    const fault = faultOf('{"sshPassword": "do-not-echo-me" "x": 1}');
    assert.ok(!fault.message.includes('do-not-echo-me'));
  });

  test('the fault finder accepts exactly what JSON.parse accepts (property)', () => {
    fc.assert(
      fc.property(fc.json(), fc.nat(), fc.string({ maxLength: 3 }), (json, at, insert) => {
        const text = json.slice(0, at % (json.length + 1)) + insert + json.slice(at % (json.length + 1));
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        if (valid) assert.deepEqual(parseJsonText(text), JSON.parse(text));
        else assert.notEqual(faultOf(text).detail, 'not valid JSON', JSON.stringify(text));
      }),
    );
  });
});

describe('lineAndColumn', () => {
  test('counts lines and columns from 1', () => {
    assert.deepEqual(lineAndColumn('ab\ncd', 0), { line: 1, column: 1 });
    assert.deepEqual(lineAndColumn('ab\ncd', 4), { line: 2, column: 2 });
  });
});
