/**
 * docs/errors.md lists every code of the registry with its HTTP status and summary, between generated
 * markers. After adding or changing a code, refresh the list with:
 *
 *   UPDATE_DOCS=1 node scripts/test.mjs src/errors.test.ts
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { describeError, ERRORS, type ErrorCode, isTollgateError, TollgateError } from './errors.js';

const DOC = new URL('../docs/errors.md', import.meta.url);
const BEGIN = '<!-- BEGIN ERROR LIST: generated from src/errors.ts by src/errors.test.ts (UPDATE_DOCS=1) -->';
const END = '<!-- END ERROR LIST -->';

function generated(): string {
  const rows = Object.entries(ERRORS).map(
    ([code, spec]) => `### \`${code}\`\n\nHTTP ${spec.status}. ${spec.summary}\n`,
  );
  return `${BEGIN}\n\n${rows.join('\n')}\n${END}`;
}

describe('error registry', () => {
  it('docs/errors.md lists every code with its status and summary', () => {
    const doc = readFileSync(DOC, 'utf8');
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    assert.ok(start >= 0 && end > start, 'docs/errors.md has the generated-list markers');
    const current = doc.slice(start, end + END.length);
    if (process.env.UPDATE_DOCS === '1' && current !== generated()) {
      writeFileSync(DOC, doc.slice(0, start) + generated() + doc.slice(end + END.length));
      return;
    }
    assert.equal(
      current,
      generated(),
      'docs/errors.md is out of date: run UPDATE_DOCS=1 node scripts/test.mjs src/errors.test.ts',
    );
    // And nothing outside the list names a code that does not exist.
    for (const m of doc.matchAll(/TOLLGATE_ERR_[A-Z0-9_]+/g))
      assert.ok(m[0] in ERRORS, `docs/errors.md names unknown ${m[0]}`);
  });

  it('codes are well formed, statuses are HTTP error statuses, summaries are sentences', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      assert.match(code, /^TOLLGATE_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
      assert.ok(Number.isInteger(spec.status) && spec.status >= 400 && spec.status <= 599, code);
      assert.match(spec.summary, /^\S.{9,}[.)]$/, `${code}: summary is a sentence`);
      assert.doesNotMatch(spec.summary, /\n/, code);
    }
  });

  it('TollgateError carries code, status and details; survives only as a value across threads', () => {
    const e = new TollgateError('TOLLGATE_ERR_ADMISSION_NO_UID', 'no uid', { field: 'uid' });
    assert.ok(e instanceof Error);
    assert.ok(isTollgateError(e));
    assert.equal(e.name, 'TollgateError');
    assert.equal(e.code, 'TOLLGATE_ERR_ADMISSION_NO_UID');
    assert.equal(e.status, 400);
    assert.deepEqual(e.details, { field: 'uid' });
    assert.equal(isTollgateError(new Error('x')), false);
    assert.equal(isTollgateError({ code: 'TOLLGATE_ERR_INTERNAL' }), false);
    // Why outcomes cross threads as values (STYLE.md): a structured clone loses the class and the code.
    const cloned = structuredClone(e) as unknown as { code?: unknown };
    assert.equal(isTollgateError(cloned), false);
    assert.equal(cloned.code, undefined);
    const code: ErrorCode = 'TOLLGATE_ERR_INTERNAL';
    assert.equal(ERRORS[code].status, 500);
  });

  it('describeError is short and never throws', () => {
    assert.equal(describeError(new Error('boom')), 'boom');
    assert.equal(describeError('x'.repeat(2000)).length, 500);
    assert.equal(describeError(42), '42');
    assert.equal(describeError(Object.create(null)), 'unprintable error value');
    assert.equal(
      describeError({
        toString() {
          throw new Error('no');
        },
      }),
      'unprintable error value',
    );
  });
});
