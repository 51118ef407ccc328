/** JUnit XML for `tollgate test --junit FILE` (the subset CI systems read: suites, cases, failures, errors). */

export interface JUnitCase {
  readonly name: string;
  readonly classname: string;
  readonly timeMs: number;
  readonly file?: string;
  readonly line?: number;
  /** Failure text (assertions that did not hold). */
  readonly failure?: string;
  /** Error text (the case or suite could not run). */
  readonly error?: string;
}

export interface JUnitSuite {
  readonly name: string;
  readonly cases: readonly JUnitCase[];
}

const INVALID_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

export function xmlEscape(s: string): string {
  return s
    .replace(INVALID_XML, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const secs = (ms: number) => (ms / 1000).toFixed(3);

export function junitXml(suites: readonly JUnitSuite[], name = 'tollgate test'): string {
  const count = (s: JUnitSuite, k: 'failure' | 'error') => s.cases.filter((c) => c[k] !== undefined).length;
  const time = (s: JUnitSuite) => s.cases.reduce((t, c) => t + c.timeMs, 0);
  const total = suites.reduce((n, s) => n + s.cases.length, 0);
  const failures = suites.reduce((n, s) => n + count(s, 'failure'), 0);
  const errors = suites.reduce((n, s) => n + count(s, 'error'), 0);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlEscape(name)}" tests="${total}" failures="${failures}" errors="${errors}" time="${secs(suites.reduce((t, s) => t + time(s), 0))}">`,
  ];
  for (const s of suites) {
    out.push(
      `  <testsuite name="${xmlEscape(s.name)}" tests="${s.cases.length}" failures="${count(s, 'failure')}" errors="${count(s, 'error')}" skipped="0" time="${secs(time(s))}">`,
    );
    for (const c of s.cases) {
      const attrs = [
        `name="${xmlEscape(c.name)}"`,
        `classname="${xmlEscape(c.classname)}"`,
        `time="${secs(c.timeMs)}"`,
        ...(c.file !== undefined ? [`file="${xmlEscape(c.file)}"`] : []),
        ...(c.line !== undefined ? [`line="${c.line}"`] : []),
      ].join(' ');
      if (c.failure === undefined && c.error === undefined) {
        out.push(`    <testcase ${attrs}/>`);
        continue;
      }
      out.push(`    <testcase ${attrs}>`);
      for (const [tag, text] of [
        ['failure', c.failure],
        ['error', c.error],
      ] as const) {
        if (text === undefined) continue;
        const first = text.split('\n')[0] ?? '';
        out.push(
          `      <${tag} message="${xmlEscape(first)}" type="${tag === 'failure' ? 'TOLLGATE_ERR_TEST_FAILED' : 'TOLLGATE_ERR_TEST_INVALID'}">${xmlEscape(text)}</${tag}>`,
        );
      }
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}
