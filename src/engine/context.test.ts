import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../admission/types.js';
import { Context, requestInfo, templateAsPod } from './context.js';
import { createInventory } from './inventory.js';

const deployment: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        initContainers: [{ name: 'init', image: 'busybox' }],
        containers: [{ name: 'web', image: 'nginx' }],
      },
    },
  },
};

function context(object: KubeObject | null, prefix: string): Context {
  const info = requestInfo({
    uid: 'u',
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    operation: 'CREATE',
    userInfo: {},
    object,
    oldObject: null,
    dryRun: false,
    options: null,
  });
  return new Context(info, object, null, {}, 'b', createInventory([]), prefix);
}

describe('Context under autogen', () => {
  it('gives containers and their pod spec the real paths of the workload', () => {
    const ctx = context(templateAsPod(deployment, ['spec', 'template']), 'spec.template');
    const cs = ctx.containers();
    assert.deepEqual(
      cs.map((c) => [c.path, c.pod.path, c.pod.metadataPath]),
      [
        ['spec.template.spec.containers[0]', 'spec.template.spec', 'spec.template.metadata'],
        ['spec.template.spec.initContainers[0]', 'spec.template.spec', 'spec.template.metadata'],
      ],
    );
    assert.equal(cs[0]!.pod, cs[1]!.pod, 'containers of one pod share one pod spec');
    assert.deepEqual(
      ctx.podSpecs().map((p) => [p.path, p.metadataPath]),
      [['spec.template.spec', 'spec.template.metadata']],
    );
  });

  it('leaves paths alone without a prefix', () => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'c', image: 'x' }] },
    };
    const ctx = context(pod, '');
    assert.deepEqual(
      ctx.containers().map((c) => [c.path, c.pod.path, c.pod.metadataPath]),
      [['spec.containers[0]', 'spec', 'metadata']],
    );
    assert.deepEqual(
      ctx.podSpecs().map((p) => p.path),
      ['spec'],
    );
  });
});
