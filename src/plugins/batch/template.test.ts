import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseTemplate, renderTemplate, templateProblems, usesPlaceholder } from './template.js';

const known = new Set(['nNode', 'accessPoint', 'workerID', 'requestWalltimeMinute']);

describe('batch script templates', () => {
  test("replaces {name} with its value and {{ }} with braces, as Python's str.format does", () => {
    const template = parseTemplate('#SBATCH -N {nNode}\n#SBATCH -o {accessPoint}/{workerID}.out\nawk \'{{print $1}}\'\n');
    assert.deepEqual(templateProblems(template, known), []);
    assert.equal(
      renderTemplate(template, { nNode: 2, accessPoint: '/w/7', workerID: 7 }),
      "#SBATCH -N 2\n#SBATCH -o /w/7/7.out\nawk '{print $1}'\n",
    );
  });

  test('leaves shell expansions ${VAR}, ${VAR:-x} and nested ones as written', () => {
    const text = 'echo ${HOME} ${X:-${Y}} ${#ARR[@]} $PATH\n';
    const template = parseTemplate(text);
    assert.deepEqual(templateProblems(template, known), []);
    assert.equal(renderTemplate(template, {}), text);
  });

  test('an unknown placeholder is a problem with its line and the closest known names', () => {
    const template = parseTemplate('#!/bin/bash\n#SBATCH -N {nNodes}\n#SBATCH -t {walltime}\n');
    const problems = templateProblems(template, known);
    assert.deepEqual(problems.map((p) => p.line), [2, 3]);
    assert.match(problems[0]!.message, /unknown placeholder \{nNodes\} \(did you mean \{nNode\}\?\)/);
    assert.match(problems[1]!.message, /unknown placeholder \{walltime\}/);
  });

  test('a known name that has no value in this configuration says why', () => {
    const problems = templateProblems(parseTemplate('cd {logDir}\n'), known, { logDir: 'the section sets no logDir option' });
    assert.deepEqual(problems, [{ line: 1, message: 'placeholder {logDir} has no value: the section sets no logDir option' }]);
  });

  test('lone braces, format specifications and non-names are problems on their lines (shell functions need {{ }})', () => {
    const template = parseTemplate('f() {\n  echo\n}\n#SBATCH -c {nNode:02d}\n{0}\n{a b}\n');
    const problems = template.problems.map((p) => `${p.line}: ${p.message}`);
    assert.equal(problems.length, 5, problems.join('\n'));
    assert.match(problems[0]!, /^1: a '\{' with no '\}' on its line/);
    assert.match(problems[1]!, /^3: a lone '\}'/);
    assert.match(problems[2]!, /^4: .*format specifications.*write \{nNode\}/);
    assert.match(problems[3]!, /^5: '\{0\}' is not a placeholder name/);
    assert.match(problems[4]!, /^6: '\{a b\}' is not a placeholder name/);
  });

  test('${name} of a known placeholder is refused as ambiguous; ${{name}} is the shell variable', () => {
    const problems = templateProblems(parseTemplate('echo ${workerID}\n'), known);
    assert.match(problems[0]?.message ?? '', /ambiguous: write \{workerID\} .* \$\{\{workerID\}\}/);
    const escaped = parseTemplate('echo ${{workerID}}\n');
    assert.deepEqual(templateProblems(escaped, known), []);
    assert.equal(renderTemplate(escaped, { workerID: 3 }), 'echo ${workerID}\n');
  });

  test('null and undefined values are written as nothing; usesPlaceholder finds a name', () => {
    const template = parseTemplate('a={workerID} b={nNode}');
    assert.equal(renderTemplate(template, { workerID: null }), 'a= b=');
    assert.equal(usesPlaceholder(template, 'nNode'), true);
    assert.equal(usesPlaceholder(template, 'accessPoint'), false);
  });
});
