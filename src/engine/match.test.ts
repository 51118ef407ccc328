import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AdmissionRequest, KubeObject, Operation } from '../admission/types.js';
import { createInventory } from './inventory.js';
import { compileMatch, globMatch, globMatchesGenerateName, selectorMatches } from './match.js';
import type { LabelSelector, MatchSpec } from './types.js';

const inventory = createInventory([
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod', labels: { env: 'prod', team: 'a' } } },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'dev', labels: { env: 'dev' } } },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bare' } },
]);

interface ReqInit {
  kind?: string;
  group?: string;
  namespace?: string;
  name?: string;
  operation?: Operation;
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  username?: string;
  groups?: string[];
}

function request(init: ReqInit = {}): AdmissionRequest {
  const kind = init.kind ?? 'Pod';
  const object =
    init.object !== undefined
      ? init.object
      : {
          apiVersion: 'v1',
          kind,
          metadata: { name: init.name ?? 'x', ...(init.namespace ? { namespace: init.namespace } : {}) },
        };
  return {
    uid: 'u',
    kind: { group: init.group ?? '', version: 'v1', kind },
    resource: { group: init.group ?? '', version: 'v1', resource: `${kind.toLowerCase()}s` },
    ...(init.name !== undefined ? { name: init.name } : {}),
    ...(init.namespace !== undefined ? { namespace: init.namespace } : {}),
    operation: init.operation ?? 'CREATE',
    userInfo: {
      ...(init.username !== undefined ? { username: init.username } : {}),
      ...(init.groups !== undefined ? { groups: init.groups } : {}),
    },
    object,
    oldObject: init.oldObject ?? null,
    dryRun: false,
    options: null,
  };
}

const withLabels = (labels: Record<string, string>, name = 'x'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
});

const matches = (m: MatchSpec | undefined, r: AdmissionRequest) => compileMatch(m)(r, inventory);

describe('globMatch', () => {
  it('supports exact names, prefix* and *suffix', () => {
    assert.equal(globMatch('kube-system', 'kube-system'), true);
    assert.equal(globMatch('kube-system', 'kube-system2'), false);
    assert.equal(globMatch('kube-*', 'kube-public'), true);
    assert.equal(globMatch('kube-*', 'kube-'), true);
    assert.equal(globMatch('kube-*', 'mykube-x'), false);
    assert.equal(globMatch('*-system', 'kube-system'), true);
    assert.equal(globMatch('*-system', 'kube-systems'), false);
    assert.equal(globMatch('*system*', 'kube-system-x'), true, 'infix (Gatekeeper pkg/wildcard)');
    assert.equal(globMatch('*system*', 'kube-sys'), false);
    assert.equal(globMatch('**', 'anything'), true);
    assert.equal(globMatch('*', ''), true);
    assert.equal(globMatch('', ''), true);
    assert.equal(globMatch('', 'x'), false);
  });
});

describe('globMatchesGenerateName', () => {
  it('only prefix and infix patterns can match a name still to be generated', () => {
    assert.equal(globMatchesGenerateName('web-*', 'web-'), true);
    assert.equal(globMatchesGenerateName('web-*', 'web-abc-'), true);
    assert.equal(globMatchesGenerateName('web-abc*', 'web-'), false);
    assert.equal(globMatchesGenerateName('*abc*', 'x-abc-'), true);
    assert.equal(globMatchesGenerateName('*-1', 'web-'), false);
    assert.equal(globMatchesGenerateName('web-', 'web-'), false);
  });
});

describe('selectorMatches', () => {
  const labels = { app: 'web', tier: 'front', empty: '' };
  const cases: [LabelSelector, boolean][] = [
    [{}, true],
    [{ matchLabels: {} }, true],
    [{ matchLabels: { app: 'web' } }, true],
    [{ matchLabels: { app: 'web', tier: 'front' } }, true],
    [{ matchLabels: { app: 'db' } }, false],
    [{ matchLabels: { missing: '' } }, false],
    [{ matchLabels: { empty: '' } }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['api'] }] }, false],
    [{ matchExpressions: [{ key: 'missing', operator: 'In', values: ['x'] }] }, false],
    [{ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['api'] }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }, false],
    [{ matchExpressions: [{ key: 'missing', operator: 'NotIn', values: ['x'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'empty', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'missing', operator: 'Exists' }] }, false],
    [{ matchExpressions: [{ key: 'missing', operator: 'DoesNotExist' }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
    [{ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, false],
    [{ matchExpressions: [{ key: 'toString', operator: 'In', values: ['x'] }] }, false],
    [
      {
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['front'] },
          { key: 'missing', operator: 'DoesNotExist' },
        ],
      },
      true,
    ],
    [
      {
        matchLabels: { app: 'web' },
        matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }],
      },
      false,
    ],
  ];
  cases.forEach(([sel, want], i) => {
    it(`case ${i}: ${JSON.stringify(sel)} → ${want}`, () => assert.equal(selectorMatches(sel, labels), want));
  });
});

describe('compileMatch', () => {
  it('no match block matches everything', () => {
    assert.equal(matches(undefined, request({ namespace: 'anything' })), true);
    assert.equal(matches({}, request({ namespace: 'anything' })), true);
  });

  it('namespaces and excludedNamespaces with globs', () => {
    const m: MatchSpec = { namespaces: ['prod', 'team-*'], excludedNamespaces: ['team-x*'] };
    assert.equal(matches(m, request({ namespace: 'prod' })), true);
    assert.equal(matches(m, request({ namespace: 'team-a' })), true);
    assert.equal(matches(m, request({ namespace: 'team-xyz' })), false);
    assert.equal(matches(m, request({ namespace: 'dev' })), false);
    assert.equal(
      matches({ excludedNamespaces: ['kube-*', '*-system'] }, request({ namespace: 'kube-public' })),
      false,
    );
    assert.equal(
      matches({ excludedNamespaces: ['kube-*', '*-system'] }, request({ namespace: 'gatekeeper-system' })),
      false,
    );
    assert.equal(
      matches({ excludedNamespaces: ['kube-*', '*-system'] }, request({ namespace: 'default' })),
      true,
    );
  });

  it('empty lists restrict nothing', () => {
    const r = request({ namespace: 'prod', username: 'alice', groups: ['devs'] });
    assert.equal(matches({ namespaces: [] }, r), true);
    assert.equal(matches({ excludedNamespaces: [] }, r), true);
    assert.equal(matches({ users: [] }, r), true);
    assert.equal(matches({ groups: [] }, r), true);
  });

  it('cluster-scoped objects are not filtered by namespace fields', () => {
    const crb = request({ kind: 'ClusterRoleBinding', group: 'rbac.authorization.k8s.io', name: 'admin' });
    assert.equal(matches({ namespaces: ['prod'] }, crb), true);
    assert.equal(matches({ excludedNamespaces: ['*'] }, crb), true);
    assert.equal(matches({ namespaceSelector: { matchLabels: { env: 'prod' } } }, crb), true);
  });

  it('a Namespace object is its own namespace', () => {
    const ns = (name: string, labels: Record<string, string> = {}) =>
      request({
        kind: 'Namespace',
        name,
        object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
      });
    assert.equal(matches({ namespaces: ['prod'] }, ns('prod')), true);
    assert.equal(matches({ namespaces: ['prod'] }, ns('dev')), false);
    assert.equal(matches({ excludedNamespaces: ['kube-*'] }, ns('kube-system')), false);
    // namespaceSelector reads the Namespace's own labels (from the request, not the inventory).
    const sel: MatchSpec = { namespaceSelector: { matchLabels: { env: 'staging' } } };
    assert.equal(matches(sel, ns('new', { env: 'staging' })), true);
    assert.equal(matches(sel, ns('prod', { env: 'dev' })), false);
    // DELETE: the Namespace being deleted is in oldObject.
    const del = request({
      kind: 'Namespace',
      name: 'old',
      operation: 'DELETE',
      object: null,
      oldObject: {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'old', labels: { env: 'staging' } },
      },
    });
    assert.equal(matches(sel, del), true);
    assert.equal(matches({ namespaces: ['old'] }, del), true);
    // A Namespace-like kind in another group is not a Namespace.
    const other = request({ kind: 'Namespace', group: 'example.com', namespace: 'dev', name: 'prod' });
    assert.equal(matches({ namespaces: ['prod'] }, other), false);
  });

  it('namespaceSelector uses the inventory; unknown namespaces do not match', () => {
    const m: MatchSpec = {
      namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] },
    };
    assert.equal(matches(m, request({ namespace: 'prod' })), true);
    assert.equal(matches(m, request({ namespace: 'dev' })), false);
    assert.equal(matches(m, request({ namespace: 'bare' })), false);
    assert.equal(matches(m, request({ namespace: 'nowhere' })), false);
    const notProd: MatchSpec = {
      namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] },
    };
    assert.equal(matches(notProd, request({ namespace: 'bare' })), true);
    assert.equal(matches(notProd, request({ namespace: 'prod' })), false);
  });

  it('scope: Cluster, Namespaced, *', () => {
    const pod = request({ namespace: 'prod' });
    const node = request({ kind: 'Node', name: 'n1' });
    const ns = request({ kind: 'Namespace', name: 'prod' });
    assert.equal(matches({ scope: 'Namespaced' }, pod), true);
    assert.equal(matches({ scope: 'Namespaced' }, node), false);
    assert.equal(matches({ scope: 'Namespaced' }, ns), false);
    assert.equal(matches({ scope: 'Cluster' }, node), true);
    assert.equal(matches({ scope: 'Cluster' }, ns), true);
    assert.equal(matches({ scope: 'Cluster' }, pod), false);
    assert.equal(matches({ scope: '*' }, pod), true);
    assert.equal(matches({ scope: '*' }, node), true);
  });

  it('name with globs, from the request or the object', () => {
    assert.equal(matches({ name: 'web-*' }, request({ name: 'web-1' })), true);
    assert.equal(matches({ name: 'web-*' }, request({ name: 'api-1' })), false);
    const noRequestName = request({ object: withLabels({}, 'web-2') });
    assert.equal(matches({ name: 'web-*' }, noRequestName), true);
    const generated = request({
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-' } },
    });
    assert.equal(matches({ name: 'web-*' }, generated), true, 'the generated name will start with web-');
    assert.equal(matches({ name: '*eb*' }, generated), true);
    assert.equal(matches({ name: 'web-x*' }, generated), false);
    assert.equal(matches({ name: '*-1' }, generated), false, 'a suffix cannot be known yet');
    assert.equal(matches({ name: 'web-' }, generated), false, 'an exact name cannot be known yet');
    assert.equal(matches({ name: '*' }, request({ object: { kind: 'Pod', metadata: {} } })), true);
    assert.equal(matches({ name: '' }, generated), true, 'a blank name means any (Gatekeeper)');
  });

  it('labelSelector matches the new or the old object', () => {
    const m: MatchSpec = { labelSelector: { matchLabels: { app: 'web' } } };
    assert.equal(matches(m, request({ object: withLabels({ app: 'web' }) })), true);
    assert.equal(matches(m, request({ object: withLabels({ app: 'db' }) })), false);
    assert.equal(matches(m, request({ object: { kind: 'Pod' } })), false);
    const relabel = request({
      operation: 'UPDATE',
      object: withLabels({ app: 'db' }),
      oldObject: withLabels({ app: 'web' }),
    });
    assert.equal(matches(m, relabel), true);
    const del = request({ operation: 'DELETE', object: null, oldObject: withLabels({ app: 'web' }) });
    assert.equal(matches(m, del), true);
    const connect = request({ operation: 'CONNECT', object: { kind: 'PodAttachOptions', apiVersion: 'v1' } });
    assert.equal(matches(m, connect), false);
    assert.equal(
      matches({ labelSelector: { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] } }, connect),
      true,
    );
  });

  it('users and groups with globs', () => {
    const r = request({
      username: 'system:serviceaccount:ci:deployer',
      groups: ['system:serviceaccounts', 'system:authenticated'],
    });
    assert.equal(matches({ users: ['system:serviceaccount:ci:*'] }, r), true);
    assert.equal(matches({ users: ['alice'] }, r), false);
    assert.equal(matches({ groups: ['system:masters'] }, r), false);
    assert.equal(matches({ groups: ['system:masters', 'system:serviceaccounts'] }, r), true);
    assert.equal(matches({ users: ['alice'] }, request()), false, 'no username');
    assert.equal(matches({ groups: ['*'] }, request()), false, 'no groups');
  });

  it('values of the wrong type in the objects never throw', () => {
    const weird = JSON.parse('{"toString":1,"valueOf":2}') as unknown;
    const obj = (name: unknown, labels: unknown) =>
      ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels } }) as unknown as KubeObject;
    const sel = (operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'): MatchSpec => ({
      labelSelector: {
        matchExpressions: [
          { key: 'app', operator, ...(operator === 'In' || operator === 'NotIn' ? { values: ['a'] } : {}) },
        ],
      },
    });
    const weirdLabel = request({ object: obj('n', { app: weird }) });
    assert.equal(matches(sel('In'), weirdLabel), false);
    assert.equal(matches(sel('NotIn'), weirdLabel), true);
    assert.equal(matches(sel('Exists'), weirdLabel), true);
    assert.equal(matches(sel('DoesNotExist'), weirdLabel), false);
    assert.equal(
      matches({ labelSelector: { matchLabels: { app: 'a' } } }, request({ object: obj('n', weird) })),
      false,
    );
    assert.equal(
      matches({ labelSelector: { matchLabels: { app: 'a' } } }, request({ object: obj('n', 'str') })),
      false,
    );
    assert.equal(
      matches({ labelSelector: { matchLabels: { app: 'a' } } }, request({ object: obj('n', [1]) })),
      false,
    );
    // A name that is not a string is no name; a Namespace without a string name is not in any namespace.
    assert.equal(matches({ name: 'web-*' }, request({ object: obj(weird, {}) })), false);
    assert.equal(
      matches({ name: 'web-*' }, request({ object: obj(42, {}), oldObject: obj('web-1', {}) })),
      true,
    );
    const ns = request({
      kind: 'Namespace',
      object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: weird as string } },
    });
    assert.equal(matches({ namespaces: ['a*'] }, ns), true, 'treated as cluster-scoped');
    assert.equal(matches({ excludedNamespaces: ['*'] }, ns), true);
  });

  it('every field must match (AND)', () => {
    const m: MatchSpec = {
      namespaces: ['prod'],
      labelSelector: { matchLabels: { app: 'web' } },
      namespaceSelector: { matchLabels: { team: 'a' } },
      users: ['alice'],
    };
    const ok = request({ namespace: 'prod', username: 'alice', object: withLabels({ app: 'web' }) });
    assert.equal(matches(m, ok), true);
    assert.equal(matches(m, { ...ok, userInfo: { username: 'bob' } }), false);
    assert.equal(matches(m, { ...ok, object: withLabels({}) }), false);
    assert.equal(matches(m, { ...ok, namespace: 'dev' }), false);
  });
});
