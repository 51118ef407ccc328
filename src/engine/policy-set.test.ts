import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import {
  bindingYaml,
  decoded,
  policySetFrom,
  tempDir,
  writePolicies,
} from '../../test/engine-conformance.case.js';
import type { Operation } from '../admission/types.js';
import { TollgateError } from '../errors.js';
import { POD_CONTROLLER_GROUPS, POD_TEMPLATE_PATHS } from '../sdk/pod-specs.js';
import { loadSource } from './engine.js';
import { evaluateReview } from './evaluate.js';
import { buildPolicySet, type PolicySet } from './policy-set.js';
import type { PolicySetSource } from './types.js';

const sdk = `import { definePolicy } from 'tollgate/sdk';\n`;

/** A policy that reports every container image with its field path, optionally with parameters. */
function imagesPolicy(name: string, extra = ''): string {
  return `${sdk}
export default definePolicy({
  name: '${name}',
  description: 'Lists images.',
  ${extra}
  validate(ctx) {
    return ctx.containers().map((c) => ({ message: '${name} ' + c.image, path: c.path + '.image' }));
  },
});
`;
}

const POLICIES: Record<string, string> = {
  pods: imagesPolicy('pods'),
  'no-autogen': imagesPolicy('no-autogen', 'autogen: false,'),
  services: `${sdk}
export default definePolicy({
  name: 'services',
  description: 'Services.',
  match: { kinds: [{ apiGroups: [''], kinds: ['Service'] }], operations: ['CREATE'] },
  validate: () => 'service',
});
`,
  anything: `${sdk}
export default definePolicy({
  name: 'anything',
  description: 'Every kind in apps.',
  match: { kinds: [{ apiGroups: ['apps'], kinds: ['*'] }], operations: ['CREATE', 'UPDATE', 'DELETE'] },
  validate: () => [],
});
`,
  params: `${sdk}
export default definePolicy({
  name: 'params',
  description: 'Parameters with defaults.',
  aliases: ['K8sParams'],
  parameters: {
    type: 'object',
    additionalProperties: false,
    required: ['registry'],
    properties: {
      registry: { type: 'string', minLength: 1 },
      suffix: { type: 'string', default: ':latest' },
      nested: { type: 'object', properties: { n: { type: 'integer', default: 3 } }, default: {} },
    },
  },
  validate(ctx) {
    return { warnings: [JSON.stringify(ctx.params)] };
  },
});
`,
};

const BINDINGS = [
  bindingYaml('pods', 'pods'),
  bindingYaml('no-autogen', 'no-autogen'),
  bindingYaml('services', 'services'),
  bindingYaml('anything', 'anything'),
  bindingYaml('params', 'params', { parameters: { registry: 'r.io' }, match: { namespaces: ['params'] } }),
  bindingYaml('params-alias', 'k8sparams', {
    parameters: { registry: 'x', suffix: '-dev' },
    match: { namespaces: ['params'] },
  }),
  bindingYaml('pods-delete', 'pods', { match: { operations: ['DELETE'] } }),
  // Gatekeeper: an empty kinds/apiGroups list in a selector means any; an empty kinds list is no list.
  bindingYaml('any-kind-in-batch', 'services', { match: { kinds: [{ apiGroups: ['batch'], kinds: [] }] } }),
  bindingYaml('any-group-widget', 'services', { match: { kinds: [{ apiGroups: [], kinds: ['Widget'] }] } }),
  bindingYaml('empty-kinds', 'services', { match: { kinds: [] } }),
].join('');

describe('buildPolicySet', () => {
  let root = '';
  let set: PolicySet;

  before(async () => {
    root = tempDir();
    set = await policySetFrom(root, POLICIES, BINDINGS);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const names = (group: string, kind: string, op: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT') =>
    set.candidates(group, kind, op).map((c) => c.binding.name);

  it('indexes bindings by kind and operation, in load order', () => {
    assert.deepEqual(names('', 'Pod', 'CREATE'), ['pods', 'no-autogen', 'params', 'params-alias']);
    assert.deepEqual(names('', 'Pod', 'DELETE'), ['pods-delete']);
    assert.deepEqual(names('', 'Pod', 'CONNECT'), []);
    assert.deepEqual(names('', 'Service', 'CREATE'), ['services', 'empty-kinds']);
    assert.deepEqual(names('batch', 'Job', 'CREATE'), [
      'pods',
      'params',
      'params-alias',
      'any-kind-in-batch',
    ]);
    assert.deepEqual(names('example.com', 'Widget', 'CREATE'), ['any-group-widget']);
    assert.deepEqual(names('', 'Widget', 'CREATE'), ['any-group-widget']);
    assert.deepEqual(names('', 'Service', 'UPDATE'), []);
    assert.deepEqual(names('', 'ConfigMap', 'CREATE'), []);
    assert.deepEqual(names('apps', 'Pod', 'CREATE'), ['anything'], 'group matters');
    assert.deepEqual(names('apps', 'ControllerRevision', 'DELETE'), ['anything'], 'wildcard kinds');
    // Repeated lookups are served from the cache and stay identical.
    assert.equal(set.candidates('', 'Pod', 'CREATE'), set.candidates('', 'Pod', 'CREATE'));
  });

  it('autogen files Pod bindings under every pod controller with its template path', () => {
    const expect: [string, string, string[]][] = [
      ['apps', 'Deployment', ['spec', 'template']],
      ['apps', 'ReplicaSet', ['spec', 'template']],
      ['apps', 'StatefulSet', ['spec', 'template']],
      ['apps', 'DaemonSet', ['spec', 'template']],
      ['batch', 'Job', ['spec', 'template']],
      ['batch', 'CronJob', ['spec', 'jobTemplate', 'spec', 'template']],
      ['', 'ReplicationController', ['spec', 'template']],
    ];
    for (const [group, kind, path] of expect) {
      const cs = set.candidates(group, kind, 'CREATE');
      const pods = cs.find((c) => c.binding.name === 'pods');
      assert.deepEqual(pods?.template, path, kind);
      assert.equal(
        cs.some((c) => c.binding.name === 'no-autogen'),
        false,
        `autogen: false is not expanded (${kind})`,
      );
    }
    // The apps/* binding sees a Deployment as itself, the Pod binding through its template.
    const dep = set.candidates('apps', 'Deployment', 'CREATE');
    assert.deepEqual(
      dep.map((c) => [c.binding.name, c.template?.join('.')]),
      [
        ['pods', 'spec.template'],
        ['anything', undefined],
        ['params', 'spec.template'],
        ['params-alias', 'spec.template'],
      ],
    );
  });

  it('autogen reports the real field paths of Deployments and CronJobs', async () => {
    const template = {
      metadata: { labels: { app: 'x' } },
      spec: { initContainers: [{ name: 'i', image: 'init:1' }], containers: [{ name: 'c', image: 'app:1' }] },
    };
    const deployment = decoded({
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd', namespace: 'ns' },
        spec: { template },
      },
    });
    const d = await evaluateReview(set, deployment, { mutate: false });
    const pods = d.evaluations.find((e) => e.binding === 'pods');
    assert.deepEqual(pods?.violations, [
      { message: 'pods app:1', path: 'spec.template.spec.containers[0].image' },
      { message: 'pods init:1', path: 'spec.template.spec.initContainers[0].image' },
    ]);
    assert.equal(d.response.allowed, false);
    const cronjob = decoded({
      kind: { group: 'batch', version: 'v1', kind: 'CronJob' },
      object: {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name: 'c', namespace: 'ns' },
        spec: { schedule: '@daily', jobTemplate: { spec: { template } } },
      },
    });
    const c = await evaluateReview(set, cronjob, { mutate: false });
    assert.deepEqual(
      c.evaluations.find((e) => e.binding === 'pods')?.violations.map((v) => v.path),
      [
        'spec.jobTemplate.spec.template.spec.containers[0].image',
        'spec.jobTemplate.spec.template.spec.initContainers[0].image',
      ],
    );
    // A workload without a template has nothing to check.
    const empty = decoded({
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: {} },
    });
    const e = await evaluateReview(set, empty, { mutate: false });
    assert.equal(e.response.allowed, true);
  });

  it('validates parameters against the schema and applies defaults', async () => {
    const b = set.bindings.find((x) => x.name === 'params');
    assert.deepEqual(b?.params, { registry: 'r.io', suffix: ':latest', nested: { n: 3 } });
    const alias = set.bindings.find((x) => x.name === 'params-alias');
    assert.equal(alias?.loaded.name, 'params', 'a binding may use an alias, in any case');
    assert.deepEqual(alias?.params, { registry: 'x', suffix: '-dev', nested: { n: 3 } });
    const d = await evaluateReview(
      set,
      decoded({ object: { kind: 'Pod', metadata: { name: 'p', namespace: 'params' } } }),
      {
        mutate: false,
      },
    );
    assert.ok(
      d.response.warnings?.includes('[params] {"registry":"r.io","suffix":":latest","nested":{"n":3}}'),
    );
  });
});

describe('candidate index', () => {
  let root = '';
  let source: PolicySetSource;
  before(async () => {
    root = tempDir();
    const dir = join(root, 'src');
    const rules = writePolicies(dir, { pods: POLICIES.pods!, 'no-autogen': POLICIES['no-autogen']! });
    source = await loadSource({ rules, configs: [], data: [], cacheDir: join(root, 'cache') });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const GROUPS = ['', 'apps', 'batch', '*', 'example.com'];
  const KINDS = ['Pod', 'Deployment', 'CronJob', 'Job', 'ReplicationController', 'Service', '*', 'Widget'];
  const OPS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;

  /** What the index must return, computed the slow way: direct coverage wins over autogen. */
  function expected(
    set: PolicySet,
    group: string,
    kind: string,
    op: Operation,
  ): [string, string | undefined][] {
    const out: [string, string | undefined][] = [];
    for (const b of set.bindings) {
      if (!b.operations.includes(op)) continue;
      const direct = b.kinds.some(
        (s) =>
          (s.apiGroups.includes('*') || s.apiGroups.includes(group)) &&
          (s.kinds.includes('*') || s.kinds.includes(kind)),
      );
      if (direct) {
        out.push([b.name, undefined]);
        continue;
      }
      const controller = Object.hasOwn(POD_CONTROLLER_GROUPS, kind) && POD_CONTROLLER_GROUPS[kind] === group;
      const coversPod = b.kinds.some(
        (s) => (s.apiGroups.includes('') || s.apiGroups.includes('*')) && s.kinds.includes('Pod'),
      );
      if (controller && coversPod && b.loaded.autogen)
        out.push([b.name, POD_TEMPLATE_PATHS[kind]!.join('.')]);
    }
    return out;
  }

  it('agrees with a brute-force match on random binding sets', async () => {
    let seed = 0x5eed;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const some = <T>(xs: readonly T[]): T[] => xs.filter(() => rand() < 0.3);
    for (let round = 0; round < 150; round++) {
      const n = 1 + Math.floor(rand() * 5);
      const bindings = Array.from({ length: n }, (_, i) => {
        const spec: Record<string, unknown> = { policy: pick(['pods', 'no-autogen']) };
        const match: Record<string, unknown> = {};
        if (rand() < 0.8) {
          match.kinds = Array.from({ length: 1 + Math.floor(rand() * 2) }, () => {
            const sel: Record<string, unknown> = {};
            if (rand() < 0.9) sel.apiGroups = [pick(GROUPS), ...some(GROUPS)];
            if (rand() < 0.9) sel.kinds = [pick(KINDS), ...some(KINDS)];
            return sel;
          });
        }
        if (rand() < 0.5) match.operations = [pick(OPS), ...some(OPS)];
        if (Object.keys(match).length > 0) spec.match = match;
        return {
          location: { file: 'random.yaml', doc: i, line: 1 },
          value: parse(bindingYaml(`b${i}`, spec.policy as string, spec)),
        };
      });
      const set = await buildPolicySet({ ...source, bindings });
      for (const group of GROUPS.filter((g) => g !== '*')) {
        for (const kind of KINDS.filter((k) => k !== '*')) {
          for (const op of OPS) {
            const got = set
              .candidates(group, kind, op)
              .map((c): [string, string | undefined] => [c.binding.name, c.template?.join('.')]);
            assert.deepEqual(
              got,
              expected(set, group, kind, op),
              `round ${round}: ${op} ${group}/${kind} with ${JSON.stringify(bindings.map((b) => b.value))}`,
            );
          }
        }
      }
    }
  });
});

describe('buildPolicySet errors', () => {
  let root = '';
  before(() => {
    root = tempDir();
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  async function fails(
    policies: Record<string, string>,
    bindings: string,
    code: string,
  ): Promise<TollgateError> {
    try {
      await policySetFrom(root, policies, bindings);
    } catch (e) {
      assert.ok(e instanceof TollgateError, String(e));
      assert.equal(e.code, code, e.message);
      return e;
    }
    assert.fail('loaded');
  }

  it('parameters that do not match the schema name the binding, file and JSON path', async () => {
    const e = await fails(
      { params: POLICIES.params! },
      bindingYaml('bad', 'params', { parameters: { suffix: 3, nested: { n: 'x' }, extra: true } }),
      'TOLLGATE_ERR_BINDING_PARAMS',
    );
    assert.match(e.message, /binding bad at .*bindings\.yaml:2 \(document 1\)/);
    assert.match(e.message, /spec\.parameters: must have required property 'registry'/);
    assert.match(e.message, /spec\.parameters\.suffix: must be string/);
    assert.match(e.message, /spec\.parameters\.nested\.n: must be integer/);
    assert.match(e.message, /spec\.parameters: must NOT have additional properties \(extra\)/);
  });

  it('an unknown policy lists the available ones with their aliases', async () => {
    const e = await fails(
      { params: POLICIES.params!, pods: POLICIES.pods! },
      bindingYaml('b', 'no-such-policy'),
      'TOLLGATE_ERR_BINDING_UNKNOWN_POLICY',
    );
    assert.match(e.message, /"no-such-policy"/);
    assert.match(e.message, /available: .*params \(K8sParams\)/);
    assert.match(e.message, /available: .*pods/);
    const none = await fails({}, bindingYaml('b', 'x'), 'TOLLGATE_ERR_BINDING_UNKNOWN_POLICY');
    assert.match(none.message, /\(none loaded\)/);
  });

  it('duplicate binding names', async () => {
    const e = await fails(
      { pods: POLICIES.pods! },
      bindingYaml('same', 'pods') + bindingYaml('same', 'pods'),
      'TOLLGATE_ERR_BINDING_DUPLICATE',
    );
    assert.match(e.message, /bindings\.yaml:2 \(document 1\) and .*bindings\.yaml:7 \(document 2\)/);
  });

  it('duplicate policy names and aliases, in any case', async () => {
    await fails({ a: imagesPolicy('same'), b: imagesPolicy('same') }, '', 'TOLLGATE_ERR_POLICY_DUPLICATE');
    await fails(
      { a: imagesPolicy('one', "aliases: ['Shared'],"), b: imagesPolicy('two', "aliases: ['shared'],") },
      '',
      'TOLLGATE_ERR_POLICY_DUPLICATE',
    );
    await fails(
      { a: imagesPolicy('one'), b: imagesPolicy('two', "aliases: ['ONE'],") },
      '',
      'TOLLGATE_ERR_POLICY_DUPLICATE',
    );
  });

  it('a module that does not default-export definePolicy(...)', async () => {
    const e = await fails(
      { plain: 'export default { name: "plain", validate() {} };\n' },
      '',
      'TOLLGATE_ERR_POLICY_INVALID',
    );
    assert.match(e.message, /rules\/plain\/index\.ts/);
    await fails({ none: 'export const x = 1;\n' }, '', 'TOLLGATE_ERR_POLICY_INVALID');
  });

  it('a policy that does not compile names the file and line', async () => {
    const e = await fails(
      { broken: `${sdk}\nexport default definePolicy({\n  name: 'broken',,\n});\n` },
      '',
      'TOLLGATE_ERR_POLICY_COMPILE',
    );
    assert.match(e.message, /rules\/broken\/index\.ts:4:/);
    const imp = await fails(
      { imp: `import x from './missing.js';\nexport default x;\n` },
      '',
      'TOLLGATE_ERR_POLICY_COMPILE',
    );
    assert.match(imp.message, /rules\/imp\/index\.ts:1:/);
  });

  it('a policy whose module throws while loading', async () => {
    const e = await fails({ throws: `throw new Error('top-level');\n` }, '', 'TOLLGATE_ERR_POLICY_COMPILE');
    assert.match(e.message, /top-level/);
  });

  it('an invalid parameters schema', async () => {
    await fails(
      {
        s: `${sdk}export default definePolicy({ name: 's', description: '', parameters: { type: 'nope' }, validate: () => [] });\n`,
      },
      bindingYaml('s', 's'),
      'TOLLGATE_ERR_POLICY_INVALID',
    );
  });

  it('a policy timeoutMs that is not a number of milliseconds up to 30 s', async () => {
    for (const t of ["'100'", '0', '60000']) {
      const e = await fails({ t: imagesPolicy('t', `timeoutMs: ${t},`) }, '', 'TOLLGATE_ERR_POLICY_INVALID');
      assert.match(e.message, /rules\/t\/index\.ts: timeoutMs must be/);
    }
  });

  it('a malformed binding', async () => {
    const e = await fails(
      { pods: POLICIES.pods! },
      bindingYaml('b', 'pods', { enforcementAction: 'block' }),
      'TOLLGATE_ERR_BINDING_INVALID',
    );
    assert.match(e.message, /spec\.enforcementAction/);
  });
});
