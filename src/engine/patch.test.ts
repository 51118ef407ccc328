import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import jsonpatch, { type Operation } from 'fast-json-patch';
import { diff, escapePointerToken } from './patch.js';

/**
 * Apply with fast-json-patch, an independent RFC 6902 implementation, validating each operation.
 * `__proto__` is an ordinary key to the API server's Go JSON patcher, but fast-json-patch assigns with
 * `obj[key] = value`, which would set a prototype; on null-prototype objects the same assignment creates
 * an own member, so documents and values are converted first (and prototype protection is off).
 */
function apply(doc: unknown, ops: readonly Operation[]): unknown {
  const nullProtoOps = ops.map((o) =>
    'value' in o ? { ...o, value: nullProto(o.value) } : o,
  ) as Operation[];
  return jsonpatch.applyPatch(nullProto(doc), nullProtoOps, true, true, false).newDocument;
}

function nullProto(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(nullProto);
  if (typeof v === 'object' && v !== null) {
    const out = Object.create(null) as Record<string, unknown>;
    for (const k of Object.keys(v)) out[k] = nullProto((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** diff, through the wire (JSON), applied to the source, must give the target. */
function roundTrip(from: unknown, to: unknown): Operation[] {
  const ops = JSON.parse(JSON.stringify(diff(from, to))) as Operation[];
  const got = apply(from, ops);
  assert.equal(JSON.stringify(canon(got)), JSON.stringify(canon(to)), `patch ${JSON.stringify(ops)}`);
  return ops;
}

/** Key-order-independent form that keeps `__proto__` own keys (deepEqual on them is unreliable). */
function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon);
  if (typeof v === 'object' && v !== null) {
    const out: [string, unknown][] = Object.keys(v)
      .sort()
      .map((k) => [k, canon((v as Record<string, unknown>)[k])]);
    return { entries: out };
  }
  return v;
}

describe('diff', () => {
  it('equal values give an empty patch', () => {
    for (const v of [null, 1, 'x', true, [], {}, { a: [1, { b: null }] }]) {
      assert.deepEqual(diff(v, structuredClone(v)), []);
    }
    assert.deepEqual(diff({ a: 1, b: 2 }, { b: 2, a: 1 }), [], 'key order does not matter');
  });

  it('adds labels as a whole object when metadata.labels is missing', () => {
    const from = { metadata: { name: 'p' } };
    const to = { metadata: { name: 'p', labels: { 'tollgate.dev/managed': 'true' } } };
    assert.deepEqual(diff(from, to), [
      { op: 'add', path: '/metadata/labels', value: { 'tollgate.dev/managed': 'true' } },
    ]);
    roundTrip(from, to);
    const noMeta = { kind: 'Pod' };
    assert.deepEqual(diff(noMeta, { kind: 'Pod', metadata: { labels: { a: 'b' } } }), [
      { op: 'add', path: '/metadata', value: { labels: { a: 'b' } } },
    ]);
  });

  it('escapes / and ~ in keys (RFC 6901)', () => {
    assert.equal(escapePointerToken('a/b~c'), 'a~1b~0c');
    assert.equal(escapePointerToken('~1'), '~01');
    const from = { metadata: { labels: { app: 'x' } } };
    const to = {
      metadata: { labels: { app: 'x', 'example.com/team': 'a', 'x~y': 'b', '~1': 'c', '/': 'd' } },
    };
    const ops = roundTrip(from, to);
    assert.deepEqual(ops.map((o) => o.path).sort(), [
      '/metadata/labels/example.com~1team',
      '/metadata/labels/x~0y',
      '/metadata/labels/~01',
      '/metadata/labels/~1',
    ]);
  });

  it('replaces and removes members', () => {
    const ops = roundTrip({ a: 1, b: 2, c: { d: 1 } }, { a: 2, c: {} });
    assert.deepEqual(ops, [
      { op: 'replace', path: '/a', value: 2 },
      { op: 'remove', path: '/b' },
      { op: 'remove', path: '/c/d' },
    ]);
    roundTrip({ a: { b: 1 } }, { a: [1] });
    roundTrip({ a: 'x' }, { a: null });
    roundTrip({ a: null }, { a: { b: 1 } });
  });

  it('arrays grow, shrink and change', () => {
    roundTrip([1, 2, 3], [1, 2, 3, 4, 5]);
    roundTrip([1, 2, 3, 4, 5], [1, 2]);
    roundTrip([1, 2, 3], []);
    roundTrip([], [1, { a: 2 }]);
    roundTrip([1, 2, 3], [3, 2, 1]);
    roundTrip([1, 2, 3], [9, 8]);
    roundTrip(
      [{ name: 'a', image: 'x' }],
      [
        { name: 'a', image: 'y' },
        { name: 'b', image: 'z' },
      ],
    );
    roundTrip(
      { spec: { containers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] } },
      { spec: { containers: [{ name: 'a' }, { name: 'c' }] } },
    );
    assert.deepEqual(diff([1, 2, 3], [1, 2, 3, 4]), [{ op: 'add', path: '/3', value: 4 }]);
    assert.deepEqual(diff([1, 2, 3], [1]), [
      { op: 'remove', path: '/2' },
      { op: 'remove', path: '/1' },
    ]);
  });

  it('the root itself can be replaced', () => {
    assert.deepEqual(diff(1, 2), [{ op: 'replace', path: '', value: 2 }]);
    roundTrip({ a: 1 }, [1]);
    roundTrip([1], { a: 1 });
  });

  it('__proto__ and constructor keys are ordinary members', () => {
    const from = JSON.parse('{"metadata":{"labels":{"__proto__":"x","a":"1"}}}') as unknown;
    const to = JSON.parse('{"metadata":{"labels":{"__proto__":"y","constructor":"z","a":"1"}}}') as unknown;
    const ops = roundTrip(from, to);
    assert.deepEqual(ops.map((o) => [o.op, o.path]).sort(), [
      ['add', '/metadata/labels/constructor'],
      ['replace', '/metadata/labels/__proto__'],
    ]);
    const added = JSON.parse('{"__proto__":{"polluted":true}}') as unknown;
    roundTrip({}, added);
    roundTrip(added, {});
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('undefined members count as absent, as in JSON', () => {
    assert.deepEqual(diff({ a: 1 }, { a: 1, b: undefined }), []);
    assert.deepEqual(diff({ a: 1, b: undefined }, { a: 1 }), []);
    assert.deepEqual(diff({ a: undefined }, { a: 2 }), [{ op: 'add', path: '/a', value: 2 }]);
    assert.deepEqual(diff({ a: 2 }, { a: undefined }), [{ op: 'remove', path: '/a' }]);
  });

  it('random JSON documents and edits round-trip through fast-json-patch', () => {
    const rand = mulberry32(0x70116a7e);
    const keys = [
      'a',
      'b',
      'c',
      'x/y',
      'm~n',
      '~1',
      '',
      '-',
      '0',
      '__proto__',
      'constructor',
      'metadata',
      'labels',
    ];
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const value = (depth: number): unknown => {
      const r = rand();
      if (depth <= 0 || r < 0.35) return pick([null, true, false, 0, 1, -2.5, 'x', '', 'ü😀', '/~']);
      if (r < 0.65) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth - 1));
      const o: Record<string, unknown> = {};
      const n = Math.floor(rand() * 4);
      for (let i = 0; i < n; i++)
        Object.defineProperty(o, pick(keys), {
          value: value(depth - 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      return o;
    };
    const edit = (v: unknown, depth: number): unknown => {
      if (rand() < 0.2 || depth <= 0) return value(2);
      if (Array.isArray(v)) {
        const out = v.map((x) => (rand() < 0.3 ? edit(x, depth - 1) : structuredCloneJson(x)));
        if (rand() < 0.3) out.push(value(2));
        if (rand() < 0.3) out.splice(Math.floor(rand() * (out.length + 1)), 1);
        return out;
      }
      if (typeof v === 'object' && v !== null) {
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(v)) {
          if (rand() < 0.15) continue;
          const child = (v as Record<string, unknown>)[k];
          Object.defineProperty(out, k, {
            value: rand() < 0.4 ? edit(child, depth - 1) : structuredCloneJson(child),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        if (rand() < 0.4)
          Object.defineProperty(out, pick(keys), {
            value: value(2),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        return out;
      }
      return value(1);
    };
    for (let i = 0; i < 2000; i++) {
      const from = value(4);
      const to = edit(from, 4);
      roundTrip(from, to);
      roundTrip(to, from);
    }
  });
});

/** Deep copy through JSON, keeping `__proto__` own keys (JSON.parse defines them as own properties). */
function structuredCloneJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v)) as unknown;
}

/** A small seeded PRNG so a failing case reproduces. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
