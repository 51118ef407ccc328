import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { bindingYaml, decoded, policySetFrom, tempDir } from '../../test/engine-conformance.case.js';
import { evaluateReview } from './evaluate.js';

const POLICIES = {
  'kind-of': `import { definePolicy } from 'tollgate/sdk';
export default definePolicy({
  name: 'kind-of',
  description: 'Reports the kind it is shown.',
  validate: (ctx) => 'saw ' + ctx.object.kind,
});
`,
};

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default' },
  spec: { template: { spec: { containers: [{ name: 'c', image: 'x' }] } } },
};

describe('autogen and explicit kinds', () => {
  const root = tempDir();
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const order of [
    [
      'Pod first',
      [
        { apiGroups: [''], kinds: ['Pod'] },
        { apiGroups: ['apps'], kinds: ['Deployment'] },
      ],
    ],
    [
      'Deployment first',
      [
        { apiGroups: ['apps'], kinds: ['Deployment'] },
        { apiGroups: [''], kinds: ['Pod'] },
      ],
    ],
    ['a wildcard kind', [{ apiGroups: ['', 'apps'], kinds: ['Pod', '*'] }]],
  ] as const) {
    it(`a binding that names Deployment sees the Deployment itself (${order[0]})`, async () => {
      const set = await policySetFrom(
        root,
        POLICIES,
        bindingYaml('b', 'kind-of', { match: { kinds: order[1] } }),
      );
      const d = await evaluateReview(
        set,
        decoded({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: deployment }),
        { mutate: false },
      );
      assert.deepEqual(
        d.evaluations.map((e) => e.violations.map((v) => v.message)),
        [['saw Deployment']],
      );
    });
  }

  it('a binding on Pods alone still sees a Deployment through autogen, as a Pod', async () => {
    const set = await policySetFrom(root, POLICIES, bindingYaml('b', 'kind-of'));
    const d = await evaluateReview(
      set,
      decoded({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: deployment }),
      { mutate: false },
    );
    assert.deepEqual(
      d.evaluations.map((e) => e.violations.map((v) => v.message)),
      [['saw Pod']],
    );
  });
});
