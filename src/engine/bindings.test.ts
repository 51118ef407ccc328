import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TollgateError } from '../errors.js';
import { isBindingDocument, parseBinding } from './bindings.js';
import { parseDocuments } from './documents.js';
import type { BindingSpec } from './types.js';

/** Parse the `index`-th document of a YAML text as a binding. */
function bindingOf(yaml: string, index = 0): BindingSpec {
  const docs = parseDocuments(yaml, 'bindings/test.yaml');
  const doc = docs[index];
  assert.ok(doc, `document ${index}`);
  return parseBinding(doc);
}

function invalid(yaml: string, index = 0): TollgateError {
  try {
    bindingOf(yaml, index);
  } catch (e) {
    assert.ok(e instanceof TollgateError);
    assert.equal(e.code, 'TOLLGATE_ERR_BINDING_INVALID');
    return e;
  }
  assert.fail('binding accepted');
}

describe('parseBinding: Tollgate Binding', () => {
  it('parses every field, with defaults', () => {
    const b = bindingOf(`
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata:
  name: images
spec:
  policy: trusted-registry
  parameters:
    registries: [ghcr.io/acme]
  enforcementAction: Warn
  failurePolicy: allow
  timeoutMs: 250
  match:
    kinds: [{ apiGroups: [''], kinds: [Pod] }]
    namespaces: [prod, 'team-*']
    excludedNamespaces: [kube-system]
    labelSelector: { matchLabels: { app: web }, matchExpressions: [{ key: tier, operator: In, values: [front] }] }
    namespaceSelector: { matchExpressions: [{ key: env, operator: Exists }] }
    scope: Namespaced
    name: 'web-*'
    operations: [CREATE]
    users: [alice]
    groups: ['system:*']
`);
    assert.deepEqual(b, {
      name: 'images',
      policy: 'trusted-registry',
      parameters: { registries: ['ghcr.io/acme'] },
      match: {
        kinds: [{ apiGroups: [''], kinds: ['Pod'] }],
        namespaces: ['prod', 'team-*'],
        excludedNamespaces: ['kube-system'],
        users: ['alice'],
        groups: ['system:*'],
        operations: ['CREATE'],
        labelSelector: {
          matchLabels: { app: 'web' },
          matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }],
        },
        namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'Exists' }] },
        scope: 'Namespaced',
        name: 'web-*',
      },
      enforcementAction: 'warn',
      failurePolicy: 'allow',
      timeoutMs: 250,
      location: { file: 'bindings/test.yaml', doc: 0, line: 2 },
    });
    const d = bindingOf(
      'apiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata: {name: x}\nspec: {policy: p}\n',
    );
    assert.equal(d.enforcementAction, 'deny');
    assert.equal(d.failurePolicy, 'deny', 'fail closed by default');
    assert.deepEqual(d.parameters, {});
    assert.equal(d.match, undefined);
    assert.equal(d.timeoutMs, undefined);
  });

  it("operations '*' expands to all four", () => {
    const b = bindingOf(
      'apiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata: {name: x}\nspec: {policy: p, match: {operations: ["*"]}}\n',
    );
    assert.deepEqual(b.match?.operations, ['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);
  });

  it('every problem is listed with file, line, document and JSON path', () => {
    const yaml = `# first document is fine
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: {name: ok}
spec: {policy: p}
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: {}
spec:
  parameters: [1]
  enforcementAction: block
  failurePolicy: ignore
  timeoutMs: -5
  enforcmentAction: warn
  match:
    kinds: [Pod]
    namespaces: prod
    labelSelector:
      matchLabels: { app: 1 }
      matchExpressions:
        - { key: a, operator: In }
        - { key: b, operator: Maybe }
        - { operator: Exists }
    scope: Global
    name: 5
    operations: [CREATE, PATCH]
    typo: true
`;
    const e = invalid(yaml, 1);
    assert.match(e.message, /bindings\/test\.yaml:7 \(document 2\)/);
    const paths = e.details.paths as string[];
    const expected = [
      'metadata.name',
      'spec.policy',
      'spec.parameters',
      'spec.match.typo',
      'spec.match.kinds[0]',
      'spec.match.namespaces',
      'spec.match.operations',
      'spec.match.labelSelector.matchLabels',
      'spec.match.labelSelector.matchExpressions[0].values',
      'spec.match.labelSelector.matchExpressions[1].operator',
      'spec.match.labelSelector.matchExpressions[2]',
      'spec.match.scope',
      'spec.match.name',
      'spec.enforcementAction',
      'spec.failurePolicy',
      'spec.timeoutMs',
      'spec.enforcmentAction',
    ];
    for (const p of expected) {
      assert.ok(
        paths.some((x) => x.startsWith(`${p}: `)),
        `${p} missing in:\n${paths.join('\n')}`,
      );
      assert.ok(e.message.includes(`${p}: `), p);
    }
    assert.equal(paths.length, expected.length, paths.join('\n'));
    assert.equal(e.details.file, 'bindings/test.yaml');
    assert.equal(e.details.doc, 1);
  });

  it('rejects documents that are not bindings', () => {
    for (const yaml of [
      '[1, 2]',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p}',
      'apiVersion: tollgate.dev/v1alpha1\nkind: Policy\n',
    ]) {
      const e = invalid(yaml);
      assert.match(e.message, /\$: /);
    }
    const spec = invalid(
      'apiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata: {name: x}\nspec: [policy]\n',
    );
    assert.match(spec.message, /spec: must be an object/);
  });
});

describe('parseBinding: timeoutMs', () => {
  it('is a number of milliseconds above 0 and at most 30 s', () => {
    const doc = (t: string) =>
      `apiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata: {name: x}\nspec: {policy: p, timeoutMs: ${t}}\n`;
    assert.equal(bindingOf(doc('0.5')).timeoutMs, 0.5);
    assert.equal(bindingOf(doc('30000')).timeoutMs, 30000);
    for (const t of ['0', '-1', '30001', '1e10', '"100"', '.nan', 'null']) {
      if (t === 'null') {
        assert.equal(bindingOf(doc(t)).timeoutMs, undefined, 'null is absent');
        continue;
      }
      assert.match(invalid(doc(t)).message, /spec\.timeoutMs: must be a number of milliseconds/, t);
    }
  });
});

describe('parseBinding: Gatekeeper constraints', () => {
  it('accepts a constraint unchanged: kind names the policy', () => {
    const b = bindingOf(`
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata:
  name: repo-is-openpolicyagent
spec:
  enforcementAction: dryrun
  match:
    kinds:
      - apiGroups: [""]
        kinds: ["Pod"]
    namespaces: ["default"]
    excludedNamespaces: ["kube-system"]
  parameters:
    repos:
      - "openpolicyagent/"
`);
    assert.equal(b.name, 'repo-is-openpolicyagent');
    assert.equal(b.policy, 'K8sAllowedRepos');
    assert.equal(b.enforcementAction, 'dryrun');
    assert.deepEqual(b.parameters, { repos: ['openpolicyagent/'] });
    assert.deepEqual(b.match?.kinds, [{ apiGroups: [''], kinds: ['Pod'] }]);
    assert.deepEqual(b.match?.namespaces, ['default']);
    assert.equal(b.failurePolicy, 'deny');
  });

  it('a constraint without spec is valid; Deny in any case is deny', () => {
    const b = bindingOf(
      'apiVersion: constraints.gatekeeper.sh/v1\nkind: K8sRequiredLabels\nmetadata: {name: x}\n',
    );
    assert.equal(b.policy, 'K8sRequiredLabels');
    assert.equal(b.enforcementAction, 'deny');
    const c = bindingOf(
      'apiVersion: constraints.gatekeeper.sh/v1\nkind: K8sRequiredLabels\nmetadata: {name: x}\nspec: {enforcementAction: DENY}\n',
    );
    assert.equal(c.enforcementAction, 'deny');
  });

  it('constraint errors name the path too', () => {
    const e = invalid(
      'apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sX\nmetadata: {name: x}\nspec: {match: {kinds: [{kinds: Pod}]}}\n',
    );
    assert.match(e.message, /spec\.match\.kinds\[0\]\.kinds: must be a list of strings/);
  });
});

describe('isBindingDocument', () => {
  it('recognises Bindings and constraints only', () => {
    assert.equal(isBindingDocument({ apiVersion: 'tollgate.dev/v1alpha1', kind: 'Binding' }), true);
    assert.equal(isBindingDocument({ apiVersion: 'constraints.gatekeeper.sh/v1beta1', kind: 'K8sX' }), true);
    assert.equal(
      isBindingDocument({ apiVersion: 'templates.gatekeeper.sh/v1', kind: 'ConstraintTemplate' }),
      false,
    );
    assert.equal(isBindingDocument({ apiVersion: 'v1', kind: 'Namespace' }), false);
    assert.equal(isBindingDocument({ apiVersion: 'tollgate.dev/v1alpha1', kind: 'Other' }), false);
    assert.equal(isBindingDocument(null), false);
    assert.equal(isBindingDocument([]), false);
  });
});

describe('parseDocuments', () => {
  it('keeps file, document index and line; flattens Lists', () => {
    const docs = parseDocuments(
      'a: 1\n---\n# comment\n\nb: 2\n---\nkind: List\napiVersion: v1\nitems: [{c: 3}, {d: 4}]\n---\n',
      'x.yaml',
    );
    assert.deepEqual(
      docs.map((d) => [d.location.doc, d.location.line, d.value]),
      [
        [0, 1, { a: 1 }],
        [1, 5, { b: 2 }],
        [2, 7, { c: 3 }],
        [2, 7, { d: 4 }],
      ],
    );
  });

  it('syntax errors and duplicate keys name the file and line', () => {
    for (const [text, line] of [
      ['a: 1\nb: [\n', 2],
      ['a: 1\n---\nb: 1\nb: 2\n', 4],
    ] as const) {
      try {
        parseDocuments(text, 'bad.yaml');
        assert.fail('accepted');
      } catch (e) {
        assert.ok(e instanceof TollgateError);
        assert.equal(e.code, 'TOLLGATE_ERR_INPUT_PARSE');
        assert.match(e.message, /^bad\.yaml:\d+: /);
        assert.ok(Number(e.details.line) >= line - 1 && Number(e.details.line) <= line + 1, e.message);
      }
    }
  });
});
