import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeReview } from '../admission/decode.js';
import { asCreated, buildReview, DEFAULT_USER, isKubeObject, resourceOf, splitApiVersion } from './review.js';

test('resource names as the API server spells them', () => {
  const cases: [string, string][] = [
    ['Pod', 'pods'],
    ['Deployment', 'deployments'],
    ['Ingress', 'ingresses'],
    ['NetworkPolicy', 'networkpolicies'],
    ['Endpoints', 'endpoints'],
    ['StorageClass', 'storageclasses'],
    ['Gateway', 'gateways'],
  ];
  for (const [kind, resource] of cases) assert.equal(resourceOf(kind), resource, kind);
});

test('apiVersion splits into group and version', () => {
  assert.deepEqual(splitApiVersion('v1'), { group: '', version: 'v1' });
  assert.deepEqual(splitApiVersion('apps/v1'), { group: 'apps', version: 'v1' });
  assert.deepEqual(splitApiVersion('constraints.gatekeeper.sh/v1beta1'), {
    group: 'constraints.gatekeeper.sh',
    version: 'v1beta1',
  });
});

test('objects without a namespace are created in the default one, cluster-scoped kinds in none', () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } };
  const created = asCreated(pod);
  assert.equal(created.namespace, 'default');
  assert.equal(created.object.metadata?.namespace, 'default');
  assert.ok(!Object.hasOwn(pod.metadata, 'namespace'), 'the input is not modified');
  assert.equal(asCreated(pod, 'team-a').namespace, 'team-a');
  const inNs = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'x' } };
  assert.equal(asCreated(inNs).object, inNs);
  for (const [apiVersion, kind] of [
    ['v1', 'Namespace'],
    ['rbac.authorization.k8s.io/v1', 'ClusterRole'],
    ['storage.k8s.io/v1', 'StorageClass'],
    ['constraints.gatekeeper.sh/v1beta1', 'K8sRequiredLabels'],
  ]) {
    const o = { apiVersion: apiVersion as string, kind: kind as string, metadata: { name: 'n' } };
    assert.deepEqual(asCreated(o), { object: o, namespace: undefined }, kind);
  }
});

test('a built review decodes like one from the API server', () => {
  const object = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'prod' } };
  const body = buildReview({
    uid: 'u1',
    operation: 'CREATE',
    object,
    oldObject: null,
    namespace: 'prod',
    userInfo: DEFAULT_USER,
  });
  const review = decodeReview(JSON.stringify(body));
  assert.equal(review.apiVersion, 'admission.k8s.io/v1');
  assert.deepEqual(review.request.kind, { group: 'apps', version: 'v1', kind: 'Deployment' });
  assert.deepEqual(review.request.resource, { group: 'apps', version: 'v1', resource: 'deployments' });
  assert.equal(review.request.name, 'web');
  assert.equal(review.request.namespace, 'prod');
  assert.equal(review.request.operation, 'CREATE');
  assert.deepEqual(review.request.object, object);
  assert.equal(review.request.oldObject, null);
  assert.equal(review.request.userInfo.username, 'kubernetes-admin');

  const del = decodeReview(
    JSON.stringify(
      buildReview({
        uid: 'u2',
        operation: 'DELETE',
        object: null,
        oldObject: object,
        namespace: 'prod',
        userInfo: {},
      }),
    ),
  );
  assert.equal(del.request.kind.kind, 'Deployment', 'DELETE takes kind and name from oldObject');
  assert.equal(del.request.name, 'web');
  assert.equal(del.request.object, null);
});

test('a manifest needs apiVersion and kind', () => {
  assert.equal(isKubeObject({ apiVersion: 'v1', kind: 'Pod' }), true);
  assert.equal(isKubeObject({ kind: 'Pod' }), false);
  assert.equal(isKubeObject({ apiVersion: 'v1', kind: '' }), false);
  assert.equal(isKubeObject(['x']), false);
  assert.equal(isKubeObject('Pod'), false);
});
