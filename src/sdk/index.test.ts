import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { definePolicy, isPolicy } from './index.js';

describe('definePolicy', () => {
  it('returns a frozen, branded copy of the spec', () => {
    const spec = { name: 'my-policy', description: 'x', validate: () => [] };
    const p = definePolicy(spec);
    assert.ok(isPolicy(p));
    assert.ok(Object.isFrozen(p));
    assert.notEqual(p, spec);
    assert.equal(p.name, 'my-policy');
    assert.equal(isPolicy(spec), false);
    assert.equal(isPolicy(null), false);
    assert.equal(isPolicy({ ...p }), true, 'the brand is an own symbol key, kept by a spread');
  });

  it('accepts mutate-only policies', () => {
    assert.ok(isPolicy(definePolicy({ name: 'm', description: 'x', mutate: () => undefined })));
  });

  it('types ctx.object with a kubernetes-types object (checked by tsc)', () => {
    const p = definePolicy<{ max: number }, Pod>({
      name: 'typed',
      description: 'typed with kubernetes-types',
      validate(ctx) {
        const n = ctx.object?.spec?.containers.length ?? 0;
        return n > ctx.params.max ? `${n} containers` : [];
      },
      mutate(ctx) {
        const pod = ctx.object;
        if (pod === null) return undefined;
        return { ...pod, metadata: { ...pod.metadata, labels: { ...pod.metadata?.labels, typed: 'yes' } } };
      },
    });
    const object: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      spec: { containers: [{ name: 'a' }, { name: 'b' }] },
    };
    const ctx = { object, params: { max: 1 } } as unknown as Parameters<NonNullable<typeof p.validate>>[0];
    assert.equal(p.validate!(ctx), '2 containers');
    assert.deepEqual((p.mutate!(ctx) as Pod).metadata?.labels, { typed: 'yes' });
  });

  it('rejects bad names and policies without validate or mutate', () => {
    for (const name of ['', 'Upper', 'snake_case', '-lead', 'trail-', 'sp ace', 42]) {
      assert.throws(
        () => definePolicy({ name: name as string, description: 'x', validate: () => [] }),
        TypeError,
        String(name),
      );
    }
    assert.throws(() => definePolicy({ name: 'nothing', description: 'x' }), /validate and\/or mutate/);
    assert.throws(() => definePolicy(null as never), TypeError);
  });
});
