import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import { applyPatch, PatchError, parsePointer } from './apply-patch.js';
import { diff } from './patch.js';

// RFC 6902 appendix A, one case per example (A.1–A.16).
const RFC_CASES: { name: string; doc: unknown; patch: unknown[]; expected?: unknown; error?: RegExp }[] = [
  {
    name: 'A.1 add an object member',
    doc: { foo: 'bar' },
    patch: [{ op: 'add', path: '/baz', value: 'qux' }],
    expected: { baz: 'qux', foo: 'bar' },
  },
  {
    name: 'A.2 add an array element',
    doc: { foo: ['bar', 'baz'] },
    patch: [{ op: 'add', path: '/foo/1', value: 'qux' }],
    expected: { foo: ['bar', 'qux', 'baz'] },
  },
  {
    name: 'A.3 remove an object member',
    doc: { baz: 'qux', foo: 'bar' },
    patch: [{ op: 'remove', path: '/baz' }],
    expected: { foo: 'bar' },
  },
  {
    name: 'A.4 remove an array element',
    doc: { foo: ['bar', 'qux', 'baz'] },
    patch: [{ op: 'remove', path: '/foo/1' }],
    expected: { foo: ['bar', 'baz'] },
  },
  {
    name: 'A.5 replace a value',
    doc: { baz: 'qux', foo: 'bar' },
    patch: [{ op: 'replace', path: '/baz', value: 'boo' }],
    expected: { baz: 'boo', foo: 'bar' },
  },
  {
    name: 'A.6 move a value',
    doc: { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
    patch: [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
    expected: { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
  },
  {
    name: 'A.7 move an array element',
    doc: { foo: ['all', 'grass', 'cows', 'eat'] },
    patch: [{ op: 'move', from: '/foo/1', path: '/foo/3' }],
    expected: { foo: ['all', 'cows', 'eat', 'grass'] },
  },
  {
    name: 'A.8 test a value: success',
    doc: { baz: 'qux', foo: ['a', 2, 'c'] },
    patch: [
      { op: 'test', path: '/baz', value: 'qux' },
      { op: 'test', path: '/foo/1', value: 2 },
    ],
    expected: { baz: 'qux', foo: ['a', 2, 'c'] },
  },
  {
    name: 'A.9 test a value: error',
    doc: { baz: 'qux' },
    patch: [{ op: 'test', path: '/baz', value: 'bar' }],
    error: /operation 0: test \/baz: test failed/,
  },
  {
    name: 'A.10 add a nested member object',
    doc: { foo: 'bar' },
    patch: [{ op: 'add', path: '/child', value: { grandchild: {} } }],
    expected: { foo: 'bar', child: { grandchild: {} } },
  },
  {
    name: 'A.12 add to a nonexistent target',
    doc: { foo: 'bar' },
    patch: [{ op: 'add', path: '/baz/bat', value: 'qux' }],
    error: /does not exist/,
  },
  {
    name: 'A.14 ~ escape ordering',
    doc: { '/': 9, '~1': 10 },
    patch: [{ op: 'test', path: '/~01', value: 10 }],
    expected: { '/': 9, '~1': 10 },
  },
  {
    name: 'A.15 comparing strings and numbers',
    doc: { '/': 9, '~1': 10 },
    patch: [{ op: 'test', path: '/~01', value: '10' }],
    error: /test failed/,
  },
  {
    name: 'A.16 add an array value',
    doc: { foo: ['bar'] },
    patch: [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }],
    expected: { foo: ['bar', ['abc', 'def']] },
  },
];

describe('applyPatch (RFC 6902 appendix A)', () => {
  for (const c of RFC_CASES) {
    test(c.name, () => {
      const before = structuredClone(c.doc);
      if (c.error)
        assert.throws(
          () => applyPatch(c.doc, c.patch),
          (e: unknown) => e instanceof PatchError && c.error!.test(e.message),
        );
      else assert.deepEqual(applyPatch(c.doc, c.patch), c.expected);
      assert.deepEqual(c.doc, before, 'the input document is never modified');
    });
  }
});

describe('applyPatch edge cases', () => {
  test('replaces and copies, whole-document replace', () => {
    assert.deepEqual(
      applyPatch({ a: [1, 2] }, [
        { op: 'copy', from: '/a', path: '/b' },
        { op: 'replace', path: '/a/0', value: 9 },
      ]),
      {
        a: [9, 2],
        b: [1, 2],
      },
    );
    assert.deepEqual(applyPatch({ a: 1 }, [{ op: 'replace', path: '', value: [1] }]), [1]);
  });

  test('rejects out-of-bounds indexes, bad tokens, unknown ops and missing values', () => {
    assert.throws(() => applyPatch({ a: [1] }, [{ op: 'add', path: '/a/3', value: 1 }]), /out of bounds/);
    assert.throws(() => applyPatch({ a: [1] }, [{ op: 'remove', path: '/a/1' }]), /out of bounds/);
    assert.throws(
      () => applyPatch({ a: [1] }, [{ op: 'replace', path: '/a/01', value: 1 }]),
      /not an array index/,
    );
    assert.throws(() => applyPatch({ a: 1 }, [{ op: 'frobnicate', path: '/a' }]), /unknown op/);
    assert.throws(() => applyPatch({ a: 1 }, [{ op: 'replace', path: '/a' }]), /needs a value/);
    assert.throws(() => applyPatch({ a: 1 }, [{ op: 'remove', path: '/b' }]), /does not exist/);
    assert.throws(
      () => applyPatch({ a: { b: 1 } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]),
      /into itself/,
    );
    assert.throws(() => applyPatch({}, { op: 'add' }), /must be an array/);
    assert.throws(() => parsePointer('a/b'), /must start with/);
  });

  test('the error names the failing operation index', () => {
    assert.throws(
      () =>
        applyPatch({ a: 1 }, [
          { op: 'add', path: '/b', value: 2 },
          { op: 'remove', path: '/zz' },
        ]),
      (e: unknown) => e instanceof PatchError && e.index === 1,
    );
  });
});

/** A small deterministic PRNG so the cross-check is reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomValue(r: () => number, depth: number): unknown {
  const k = r();
  if (depth > 3 || k < 0.3) return [0, 'x', true, null, 'a/b', 'til~de'][Math.floor(r() * 6)];
  if (k < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 4); i > 0; i--)
    o[['a', 'b', 'c/d', 'e~f'][Math.floor(r() * 4)] as string] = randomValue(r, depth + 1);
  return o;
}

test('agrees with fast-json-patch on 300 random diffs produced by the engine', () => {
  const r = rng(42);
  for (let i = 0; i < 300; i++) {
    const from = { metadata: randomValue(r, 0), spec: randomValue(r, 0) };
    const to = { metadata: randomValue(r, 0), spec: randomValue(r, 0) };
    const ops = diff(from, to);
    const ours = applyPatch(from, ops);
    const theirs = fastJsonPatch.applyPatch(
      structuredClone(from),
      structuredClone(ops) as never,
      true,
      false,
    ).newDocument;
    assert.deepEqual(ours, to, `case ${i}: our applier reproduces the target`);
    assert.deepEqual(ours, theirs, `case ${i}: same result as fast-json-patch`);
  }
});
