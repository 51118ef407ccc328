import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createInventory } from './inventory.js';

const objects = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod', labels: { env: 'prod' } } },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'dev' } },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'prod' } },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'dev' } },
  { apiVersion: 'extensions/v1beta1', kind: 'Ingress', metadata: { name: 'old', namespace: 'prod' } },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod', labels: { env: 'duplicate' } } },
  { kind: 'ClusterRole', metadata: { name: 'admin' } },
  'not an object',
  null,
  [{ kind: 'Namespace' }],
  { metadata: { name: 'no kind' } },
];

describe('createInventory', () => {
  const inv = createInventory(objects);

  it('finds objects by kind, name and namespace (the first of duplicates)', () => {
    assert.equal(inv.namespace('prod')?.metadata?.labels?.env, 'prod');
    assert.equal(inv.namespace('dev')?.metadata?.name, 'dev');
    assert.equal(inv.namespace('nope'), undefined);
    assert.equal(inv.get('Ingress', 'web', 'dev')?.metadata?.namespace, 'dev');
    assert.equal(inv.get('Ingress', 'web', 'prod')?.metadata?.namespace, 'prod');
    assert.equal(inv.get('Ingress', 'web'), undefined, 'cluster scope is not any namespace');
    assert.equal(inv.get('ClusterRole', 'admin')?.kind, 'ClusterRole');
    assert.equal(inv.get('ClusterRole', 'admin', 'prod'), undefined);
    assert.equal(inv.get('Namespace', 'constructor'), undefined);
  });

  it('lists by kind, apiVersion and namespace; skips things that are not objects with a kind', () => {
    assert.equal(inv.list('Namespace').length, 3);
    assert.equal(inv.list('Ingress').length, 3);
    assert.deepEqual(
      inv.list('Ingress', { namespace: 'prod' }).map((o) => o.metadata?.name),
      ['web', 'old'],
    );
    assert.deepEqual(
      inv.list('Ingress', { apiVersion: 'networking.k8s.io/v1' }).map((o) => o.metadata?.namespace),
      ['prod', 'dev'],
    );
    assert.deepEqual(inv.list('Secret'), []);
  });

  it('is read-only: objects and lists are frozen, so no state leaks between requests', () => {
    const list = inv.list('Namespace') as unknown[];
    assert.throws(() => list.push({}), TypeError);
    assert.throws(() => (list as { sort(): void }).sort(), TypeError);
    assert.throws(() => (inv.list('Ingress', { namespace: 'prod' }) as unknown[]).pop(), TypeError);
    assert.throws(() => (inv.list('Secret') as unknown[]).push(1), TypeError);
    const ns = inv.namespace('prod') as { metadata: { labels: Record<string, string> } };
    assert.throws(() => {
      ns.metadata.labels.env = 'changed';
    }, TypeError);
    assert.equal(inv.list('Namespace').length, 3);
  });
});
