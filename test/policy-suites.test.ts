/**
 * Every policy suite in rules/ (every rules/**\/*.test.yaml), each case a node:test subtest, run through
 * the same runner as `tollgate test`: AdmissionReview body → InlineEngine → encoded response → expect.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SuiteRunner } from '../src/cli/suite-runner.js';

const RULES = 'rules';
const runner = await SuiteRunner.create({ rules: RULES });
const files = runner.findSuites([RULES]);

test('the policy library ships test suites', () => {
  assert.ok(files.length > 0, `no *.test.yaml under ${RULES}/`);
  assert.ok(
    files.some((f) => f.includes('seed-image-check')),
    'the seed policy has a suite',
  );
});

for (const file of files) {
  let suite: ReturnType<SuiteRunner['loadSuite']> | undefined;
  let loadError: unknown;
  try {
    suite = runner.loadSuite(file);
  } catch (e) {
    loadError = e;
  }
  describe(file, () => {
    if (suite === undefined) {
      test('suite loads', () => {
        throw loadError;
      });
      return;
    }
    for (const c of suite.cases) {
      test(c.name, async () => {
        const r = await runner.runCase(suite, c);
        assert.ok(r.passed, `${file}:${c.line}: ${c.name}\n${r.failures.join('\n')}`);
      });
    }
  });
}
