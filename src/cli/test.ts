/**
 * `tollgate test [paths]`: run policy test suites (`*.test.yaml`, docs/policy-tests.md) through the
 * server's own entry point. One line per case, a summary, `--junit FILE`; exit 1 when a case fails,
 * 2 when a suite or policy cannot be read.
 */
import { writeFileSync } from 'node:fs';
import { readDocuments } from '../engine/documents.js';
import { isTollgateError } from '../errors.js';
import { indent } from './format.js';
import { parseCommand, watchStdout } from './io.js';
import { type JUnitSuite, junitXml } from './junit.js';
import { reportError, SHARED_OPTIONS } from './shared.js';
import { type CaseResult, SuiteRunner } from './suite-runner.js';

const OPTIONS = {
  ...SHARED_OPTIONS,
  junit: { type: 'string' },
  filter: { type: 'string' },
} as const;

const USAGE = `usage: tollgate test [paths...] [flags]

Runs every *.test.yaml under the paths (default: the --rules directory). A suite under <rules>/<name>/
tests that directory's policy unless it names one. Format: docs/policy-tests.md.

flags:
  --rules DIR      policies (default ./rules)
  --data PATH      inventory objects added to every case (repeatable)
  --junit FILE     also write a JUnit XML report
  --filter TEXT    run only cases whose name contains TEXT
  --log-level LVL  trace|debug|info|warn|error|fatal|silent

exit: 0 all passed, 1 a case failed, 2 unreadable or invalid input`;

export async function run(argv: readonly string[]): Promise<number> {
  const parsed = parseCommand('test', argv, OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (values.config.length > 0) {
    process.stderr.write(
      'tollgate test: --config is not used: suites carry their bindings (binding:/bindings:)\n',
    );
    return 2;
  }
  watchStdout();
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const started = performance.now();
  let runner: SuiteRunner;
  let files: string[];
  try {
    runner = await SuiteRunner.create({ rules: values.rules, data: readDocuments(values.data) });
    files = runner.findSuites(positionals.length > 0 ? positionals : [values.rules]);
  } catch (e) {
    return reportError('test', e);
  }
  if (files.length === 0) {
    process.stderr.write(
      `tollgate test: no *.test.yaml under ${(positionals.length > 0 ? positionals : [values.rules]).join(', ')}\n`,
    );
    return 2;
  }
  const junit: JUnitSuite[] = [];
  const results: CaseResult[] = [];
  let invalid = 0;
  for (const file of files) {
    let suite: ReturnType<SuiteRunner['loadSuite']>;
    try {
      suite = runner.loadSuite(file);
    } catch (e) {
      if (!isTollgateError(e)) return reportError('test', e);
      invalid++;
      out(`${file}\n  ✗ ${e.message.split('\n').join('\n    ')} [${e.code}]`);
      junit.push({
        name: file,
        cases: [{ name: '(suite)', classname: file, timeMs: 0, file, error: `${e.message} [${e.code}]` }],
      });
      continue;
    }
    const cases =
      values.filter !== undefined
        ? suite.cases.filter((c) => c.name.includes(values.filter as string))
        : suite.cases;
    if (cases.length === 0) continue;
    out(suite.file);
    const suiteResults: CaseResult[] = [];
    for (const c of cases) {
      const r = await runner.runCase(suite, c);
      suiteResults.push(r);
      out(`  ${r.passed ? '✓' : '✗'} ${r.name} (${r.durationMs.toFixed(1)} ms)`);
      for (const f of r.failures) out(indent(f, '      '));
    }
    results.push(...suiteResults);
    junit.push({
      name: suite.file,
      cases: suiteResults.map((r) => ({
        name: r.name,
        classname: suite.file,
        timeMs: r.durationMs,
        file: suite.file,
        line: r.line,
        ...(r.passed ? {} : { failure: r.failures.join('\n') }),
      })),
    });
  }
  const failed = results.filter((r) => !r.passed).length;
  const suites = junit.length;
  out(
    `\n${suites} suite${suites === 1 ? '' : 's'}, ${results.length} case${results.length === 1 ? '' : 's'}: ${results.length - failed} passed, ${failed} failed${invalid ? `, ${invalid} invalid suite${invalid === 1 ? '' : 's'}` : ''} (${((performance.now() - started) / 1000).toFixed(2)} s)`,
  );
  if (values.junit !== undefined) {
    try {
      writeFileSync(values.junit, junitXml(junit));
    } catch (e) {
      process.stderr.write(`tollgate test: cannot write ${values.junit}: ${(e as Error).message}\n`);
      return 2;
    }
  }
  if (invalid > 0) return 2;
  return failed > 0 ? 1 : 0;
}
