import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  containers,
  POD_CONTROLLER_GROUPS,
  POD_TEMPLATE_PATHS,
  podSpecs,
  podTemplateOf,
} from './pod-specs.js';

const spec = () => ({
  initContainers: [{ name: 'init', image: 'busybox:1' }],
  containers: [
    { name: 'app', image: 'registry.io/app:1' },
    { name: 'side', image: 'registry.io/side:2' },
  ],
  ephemeralContainers: [{ name: 'debug', image: 'busybox:debug' }],
});
const template = () => ({ metadata: { labels: { app: 'x' } }, spec: spec() });

const WORKLOADS: Record<string, { object: Record<string, unknown>; specPath: string; metadataPath: string }> =
  {
    Pod: {
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { app: 'x' } }, spec: spec() },
      specPath: 'spec',
      metadataPath: 'metadata',
    },
    Deployment: {
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: { template: template() },
      },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    ReplicaSet: {
      object: { apiVersion: 'apps/v1', kind: 'ReplicaSet', spec: { template: template() } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    StatefulSet: {
      object: { apiVersion: 'apps/v1', kind: 'StatefulSet', spec: { template: template() } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    DaemonSet: {
      object: { apiVersion: 'apps/v1', kind: 'DaemonSet', spec: { template: template() } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    Job: {
      object: { apiVersion: 'batch/v1', kind: 'Job', spec: { template: template() } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    ReplicationController: {
      object: { apiVersion: 'v1', kind: 'ReplicationController', spec: { template: template() } },
      specPath: 'spec.template.spec',
      metadataPath: 'spec.template.metadata',
    },
    CronJob: {
      object: {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        spec: { schedule: '* * * * *', jobTemplate: { spec: { template: template() } } },
      },
      specPath: 'spec.jobTemplate.spec.template.spec',
      metadataPath: 'spec.jobTemplate.spec.template.metadata',
    },
    PodTemplate: {
      object: { apiVersion: 'v1', kind: 'PodTemplate', template: template() },
      specPath: 'template.spec',
      metadataPath: 'template.metadata',
    },
  };

/** Follow a dotted path with `[i]` indexes in an object. */
function at(o: unknown, path: string): unknown {
  let node = o;
  for (const part of path.split('.')) {
    const m = /^([^[]+)(?:\[(\d+)\])?$/.exec(part);
    assert.ok(m, part);
    node = (node as Record<string, unknown>)[m[1]!];
    if (m[2] !== undefined) node = (node as unknown[])[Number(m[2])];
  }
  return node;
}

describe('podSpecs and containers', () => {
  it('the tables cover the same workload kinds', () => {
    assert.deepEqual(Object.keys(WORKLOADS).sort(), Object.keys(POD_TEMPLATE_PATHS).sort());
    for (const kind of Object.keys(POD_CONTROLLER_GROUPS)) assert.ok(POD_TEMPLATE_PATHS[kind], kind);
  });

  for (const [kind, w] of Object.entries(WORKLOADS)) {
    it(`${kind}: spec, metadata and container paths point at the real fields`, () => {
      const specs = podSpecs(w.object);
      assert.equal(specs.length, 1);
      const s = specs[0]!;
      assert.equal(s.path, w.specPath);
      assert.equal(s.metadataPath, w.metadataPath);
      assert.equal(s.spec, at(w.object, w.specPath), 'the spec itself, not a copy');
      assert.equal(s.metadata, at(w.object, w.metadataPath));
      const cs = containers(w.object);
      assert.deepEqual(
        cs.map((c) => [c.type, c.index, c.name, c.path]),
        [
          ['containers', 0, 'app', `${w.specPath}.containers[0]`],
          ['containers', 1, 'side', `${w.specPath}.containers[1]`],
          ['initContainers', 0, 'init', `${w.specPath}.initContainers[0]`],
          ['ephemeralContainers', 0, 'debug', `${w.specPath}.ephemeralContainers[0]`],
        ],
      );
      for (const c of cs) {
        assert.equal(at(w.object, `${c.path}.image`), c.image);
        assert.equal(c.container, at(w.object, c.path));
        assert.deepEqual(c.pod, s);
      }
      assert.deepEqual(
        containers(w.object, ['initContainers']).map((c) => c.name),
        ['init'],
      );
      assert.deepEqual(podTemplateOf(w.object)?.path, POD_TEMPLATE_PATHS[kind]);
    });
  }

  it('tolerates missing and malformed parts', () => {
    assert.deepEqual(podSpecs(null), []);
    assert.deepEqual(podSpecs('pod'), []);
    assert.deepEqual(podSpecs({ kind: 'Service', spec: {} }), []);
    assert.deepEqual(podSpecs({ kind: 'Pod' }), []);
    assert.deepEqual(podSpecs({ kind: 'Deployment', spec: {} }), []);
    assert.deepEqual(podSpecs({ kind: 'CronJob', spec: { jobTemplate: null } }), []);
    assert.deepEqual(podSpecs({ kind: 'Deployment', spec: { template: { spec: [] } } }), []);
    assert.deepEqual(containers({ kind: 'Pod', spec: { containers: 'x' } }), []);
    const odd = containers({ kind: 'Pod', spec: { containers: [null, 7, { name: 5 }, { image: 'i' }] } });
    assert.deepEqual(
      odd.map((c) => [c.index, c.name, c.image]),
      [
        [2, '', ''],
        [3, '', 'i'],
      ],
    );
    const noMeta = podSpecs({ kind: 'Pod', spec: { containers: [] } });
    assert.equal(noMeta[0]?.metadata, undefined);
  });
});
