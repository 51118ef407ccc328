import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeReview,
  encodeStatus,
  sanitizeWarnings,
  statusReason,
  WARNING_MAX_RUNES,
  WARNINGS_TOTAL_MAX_RUNES,
} from './encode.js';

const runes = (s: string) => Array.from(s).length;

describe('sanitizeWarnings (ADMISSION.md §3.5)', () => {
  it('keeps short clean warnings as they are, in order', () => {
    assert.deepEqual(sanitizeWarnings(['b', 'a', 'c 😀']), ['b', 'a', 'c 😀']);
    assert.deepEqual(sanitizeWarnings([]), []);
  });

  it('truncates to 256 runes, counting code points not UTF-16 units', () => {
    const [w] = sanitizeWarnings(['x'.repeat(1000)]);
    assert.equal(runes(w!), WARNING_MAX_RUNES);
    assert.ok(w!.endsWith('…'));
    const [e] = sanitizeWarnings(['😀'.repeat(300)]);
    assert.equal(runes(e!), 256);
    assert.equal(e!.toWellFormed(), e, 'a surrogate pair is never split');
    const exact = 'y'.repeat(256);
    assert.deepEqual(sanitizeWarnings([exact]), [exact]);
    const emoji256 = '😀'.repeat(256);
    assert.deepEqual(sanitizeWarnings([emoji256]), [emoji256], '256 runes of 2 UTF-16 units each fit');
  });

  it('removes control characters (the API server would drop the whole warning)', () => {
    const out = sanitizeWarnings(['a\nb', 'tab\there', 'bell\u0007', 'c1\u0085x', 'del\u007f', '\r\n']);
    for (const w of out) assert.doesNotMatch(w, /[\u0000-\u001f\u007f-\u009f]/);
    assert.deepEqual(out, ['a b', 'tab here', 'bell', 'c1 x', 'del']);
  });

  it('replaces lone surrogates (invalid UTF-8 on the wire)', () => {
    const [w] = sanitizeWarnings(['bad \ud800 surrogate']);
    assert.equal(w, 'bad \ufffd surrogate');
  });

  it('collapses duplicates, also those that only become equal once cleaned', () => {
    assert.deepEqual(sanitizeWarnings(['dup', 'dup', 'x', 'dup', ' dup ', 'a\nb', 'a b']), [
      'dup',
      'x',
      'a b',
    ]);
  });

  it('keeps the total within 4096 runes, dropping later warnings', () => {
    const many = Array.from({ length: 100 }, (_, i) => `${i} ${'z'.repeat(200)}`);
    const out = sanitizeWarnings(many);
    const total = out.reduce((n, w) => n + runes(w), 0);
    assert.ok(total <= WARNINGS_TOTAL_MAX_RUNES, `total ${total}`);
    assert.ok(total > WARNINGS_TOTAL_MAX_RUNES - 256, 'fills the budget');
    assert.deepEqual(out, many.slice(0, out.length), 'a prefix of the input, in order');
  });
});

describe('sanitizeWarnings on random input', () => {
  it('always keeps the API server rules, and keeps clean short warnings unchanged', () => {
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const alphabet = [
      'a',
      'Z',
      ' ',
      '\n',
      '\t',
      '\u0000',
      '\u007f',
      '\u0085',
      'é',
      '😀',
      '\ud800',
      '\udc00',
      '…',
      '"',
    ];
    for (let round = 0; round < 300; round++) {
      const input = Array.from({ length: Math.floor(rand() * 60) }, () =>
        Array.from(
          { length: Math.floor(rand() * 400) },
          () => alphabet[Math.floor(rand() * alphabet.length)],
        ).join(''),
      );
      if (rand() < 0.3) input.push(...input.slice(0, 3));
      const out = sanitizeWarnings(input);
      let total = 0;
      for (const w of out) {
        const n = runes(w);
        assert.ok(n > 0 && n <= WARNING_MAX_RUNES);
        assert.doesNotMatch(w, /[\u0000-\u001f\u007f-\u009f]/);
        assert.equal(w, w.toWellFormed());
        assert.equal(w, w.trim());
        total += n;
      }
      assert.ok(total <= WARNINGS_TOTAL_MAX_RUNES);
      assert.equal(new Set(out).size, out.length);
      for (const w of input) {
        const clean = w.trim();
        if (
          clean === w &&
          clean !== '' &&
          runes(w) <= WARNING_MAX_RUNES &&
          w === w.toWellFormed() &&
          !/[\u0000-\u001f\u007f-\u009f]/.test(w) &&
          total + runes(w) <= WARNINGS_TOTAL_MAX_RUNES - WARNING_MAX_RUNES
        ) {
          assert.ok(out.includes(w), 'a clean warning that fits is kept verbatim');
        }
      }
    }
  });
});

describe('encodeReview / encodeStatus', () => {
  it('echoes the apiVersion and writes exactly apiVersion, kind, response', () => {
    for (const v of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const) {
      const body = encodeReview(v, { uid: 'x-🙂-1', allowed: true });
      assert.equal(
        body,
        `{"apiVersion":"${v}","kind":"AdmissionReview","response":{"uid":"x-🙂-1","allowed":true}}`,
      );
    }
    const denied = JSON.parse(
      encodeReview('admission.k8s.io/v1', {
        uid: 'u',
        allowed: false,
        status: { code: 403, reason: 'Forbidden', message: 'no' },
        warnings: ['w'],
      }),
    ) as { response: Record<string, unknown> };
    assert.deepEqual(denied.response, {
      uid: 'u',
      allowed: false,
      status: { code: 403, reason: 'Forbidden', message: 'no' },
      warnings: ['w'],
    });
  });

  it('writes a metav1.Status the API server decodes', () => {
    assert.deepEqual(JSON.parse(encodeStatus(400, 'BadRequest', 'bad <input>')), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'bad <input>',
      reason: 'BadRequest',
      code: 400,
    });
  });

  it('names the reason of every status Tollgate emits', () => {
    const cases: [number, string][] = [
      [400, 'BadRequest'],
      [401, 'Unauthorized'],
      [403, 'Forbidden'],
      [404, 'NotFound'],
      [405, 'MethodNotAllowed'],
      [413, 'RequestEntityTooLarge'],
      [415, 'UnsupportedMediaType'],
      [429, 'TooManyRequests'],
      [500, 'InternalError'],
      [503, 'ServiceUnavailable'],
      [504, 'Timeout'],
      [599, 'InternalError'],
    ];
    for (const [code, reason] of cases) assert.equal(statusReason(code), reason, String(code));
  });
});
