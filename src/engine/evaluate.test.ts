import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  applyPatch,
  bindingYaml,
  decoded,
  lineOf,
  pod,
  policySetFrom,
  tempDir,
} from '../../test/engine-conformance.case.js';
import type { KubeObject } from '../admission/types.js';
import { encodeDecision, errorLocation, evaluateReview } from './evaluate.js';
import type { PolicySet } from './policy-set.js';
import type { Decision } from './types.js';

const sdk = `import { definePolicy } from 'tollgate/sdk';\n`;

/** A validate-only policy whose body is `body` (a function body over `ctx`). */
function validator(name: string, body: string, extra = ''): string {
  return `${sdk}
export default definePolicy({
  name: '${name}',
  description: 'test policy',
  ${extra}
  validate(ctx) {
    ${body}
  },
});
`;
}

function mutator(name: string, body: string, extra = ''): string {
  return `${sdk}
export default definePolicy({
  name: '${name}',
  description: 'test policy',
  match: { kinds: [{ apiGroups: [''], kinds: ['Pod'] }], operations: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] },
  ${extra}
  mutate(ctx) {
    ${body}
  },
});
`;
}

const POLICIES: Record<string, string> = {
  deny: validator(
    'deny',
    `return [{ message: 'no ' + ctx.object?.metadata?.name, path: 'metadata.name' }, 'second'];`,
  ),
  allow: validator('allow', 'return undefined;'),
  thrower: validator(
    'thrower',
    `const o = ctx.object as unknown as { spec: { nope: { deeper: string } } };\n    return o.spec.nope.deeper;`,
  ),
  'throw-string': validator('throw-string', `throw 'a string';`),
  rejects: validator('rejects', `return Promise.reject(new Error('async boom'));`),
  garbage: validator(
    'garbage',
    `return (ctx.object?.metadata?.annotations?.garbage === 'num' ? 42 : ctx.object?.metadata?.annotations?.garbage === 'null-item' ? [null] : ctx.object?.metadata?.annotations?.garbage === 'empty' ? [''] : ctx.object?.metadata?.annotations?.garbage === 'violations' ? { violations: 'x' } : { warnings: [1] }) as never;`,
  ),
  shapes: validator(
    'shapes',
    `const s = ctx.object?.metadata?.annotations?.shape;
    if (s === 'string') return 'just a string';
    if (s === 'object') return { message: 'one object', path: 'spec' };
    if (s === 'both') return { violations: ['v'], warnings: ['w'] };
    if (s === 'warnings') return { warnings: ['only a warning'] };
    if (s === 'many') return Array.from({ length: 100 }, (_, i) => 'v' + i);
    if (s === 'long') return 'x'.repeat(5000);
    if (s === 'empty') return [];
    return null;`,
  ),
  'async-ok': validator(
    'async-ok',
    `await new Promise((r) => setTimeout(r, 10));\n    return 'async violation';`,
  ).replace('validate(ctx)', 'async validate(ctx)'),
  hang: validator('hang', 'return new Promise<undefined>(() => {});'),
  'bad-thenable': validator(
    'bad-thenable',
    `const kind = ctx.object?.metadata?.annotations?.thenable;
    if (kind === 'throws') return { then() { throw new Error('then threw'); } } as never;
    if (kind === 'getter') return Promise.resolve({ get violations(): string[] { throw new Error('getter then threw'); } });
    return { then(ok: (v: unknown) => void) { ok({ then() { throw new Error('inner then threw'); } }); } } as never;`,
  ),
  'hang-short': validator('hang-short', 'return new Promise<undefined>(() => {});', 'timeoutMs: 50,'),
  'params-writer': validator(
    'params-writer',
    `(ctx.params as { list: string[] }).list.push('leak');\n    return [];`,
    "parameters: { type: 'object', properties: { list: { type: 'array', default: ['a'] } } },",
  ),
  writer: validator(
    'writer',
    `(ctx.object as { metadata: { name: string } }).metadata.name = 'changed';\n    return [];`,
  ),
  echo: validator(
    'echo',
    `return { warnings: [JSON.stringify({ op: ctx.request.operation, dry: ctx.request.dryRun, binding: ctx.binding, hasObject: ctx.object !== null, old: ctx.oldObject?.metadata?.name ?? null })] };`,
    "match: { kinds: [{ apiGroups: [''], kinds: ['Pod'] }], operations: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] },",
  ),
  'label-a': mutator(
    'label-a',
    `const o = ctx.object!;\n    return { ...o, metadata: { ...o.metadata, labels: { ...(o.metadata?.labels ?? {}), a: '1' } } };`,
  ),
  'label-b-sees-a': mutator(
    'label-b-sees-a',
    `const o = ctx.object!;\n    o.metadata = { ...o.metadata, labels: { ...(o.metadata?.labels ?? {}), b: o.metadata?.labels?.a === '1' ? 'saw-a' : 'no-a' } };`,
  ),
  'half-then-throw': mutator(
    'half-then-throw',
    `ctx.object!.metadata!.labels = { half: 'done' };\n    throw new Error('after a partial change');`,
  ),
  cycle: mutator(
    'cycle',
    `const o = { ...ctx.object! } as Record<string, unknown>;\n    o.self = o;\n    return o;`,
  ),
  bigint: mutator('bigint', `(ctx.object as Record<string, unknown>).big = 10n;\n    return undefined;`),
  'not-plain': mutator('not-plain', `return new Map() as never;`),
  'undefined-members': mutator(
    'undefined-members',
    `const o = ctx.object as Record<string, unknown>;\n    o.extra = { keep: 1, drop: undefined, list: [1, undefined, NaN] };\n    return o;`,
  ),
  'async-mutate': mutator(
    'async-mutate',
    `await Promise.resolve();\n    const o = ctx.object!;\n    o.metadata = { ...o.metadata, annotations: { async: 'yes' } };\n    return o;`,
  ).replace('mutate(ctx)', 'async mutate(ctx)'),
  'mutate-hang': mutator('mutate-hang', 'return new Promise<undefined>(() => {});'),
};

// Each scenario lives in its own namespace so that bindings never interfere.
const BINDINGS = [
  bindingYaml('deny-1', 'deny', { match: { namespaces: ['deny'] } }),
  bindingYaml('allow', 'allow', { match: { namespaces: ['deny'] } }),
  bindingYaml('deny-2', 'deny', { match: { namespaces: ['deny'] } }),
  bindingYaml('as-warn', 'deny', { enforcementAction: 'warn', match: { namespaces: ['actions'] } }),
  bindingYaml('as-dryrun', 'deny', { enforcementAction: 'dryrun', match: { namespaces: ['actions'] } }),
  bindingYaml('thrower', 'thrower', { match: { namespaces: ['throw'] } }),
  bindingYaml('thrower-open', 'thrower', { failurePolicy: 'allow', match: { namespaces: ['throw-open'] } }),
  bindingYaml('thrower-warn', 'thrower', {
    enforcementAction: 'warn',
    match: { namespaces: ['throw-warn'] },
  }),
  bindingYaml('thrower-dryrun', 'thrower', {
    enforcementAction: 'dryrun',
    match: { namespaces: ['throw-dryrun'] },
  }),
  bindingYaml('throw-string', 'throw-string', { match: { namespaces: ['throw-string'] } }),
  bindingYaml('rejects', 'rejects', { match: { namespaces: ['rejects'] } }),
  bindingYaml('garbage', 'garbage', { match: { namespaces: ['garbage'] } }),
  bindingYaml('shapes', 'shapes', { match: { namespaces: ['shapes'] } }),
  bindingYaml('async-ok', 'async-ok', { match: { namespaces: ['async'] } }),
  bindingYaml('bad-thenable', 'bad-thenable', { match: { namespaces: ['bad-thenable'] } }),
  bindingYaml('hang-binding', 'hang', { timeoutMs: 40, match: { namespaces: ['hang'] } }),
  bindingYaml('hang-policy', 'hang-short', { match: { namespaces: ['hang'] } }),
  bindingYaml('hang-request', 'hang', { failurePolicy: 'allow', match: { namespaces: ['hang-request'] } }),
  bindingYaml('writer', 'writer', { match: { namespaces: ['writer'] } }),
  bindingYaml('params-writer', 'params-writer', { match: { namespaces: ['params-writer'] } }),
  bindingYaml('echo', 'echo', { match: { namespaces: ['echo'] } }),
  bindingYaml('label-a', 'label-a', { match: { namespaces: ['mutate'] } }),
  bindingYaml('label-b', 'label-b-sees-a', { match: { namespaces: ['mutate'] } }),
  bindingYaml('label-a-dry', 'label-a', {
    enforcementAction: 'dryrun',
    match: { namespaces: ['mutate-dryrun'] },
  }),
  bindingYaml('half', 'half-then-throw', { failurePolicy: 'allow', match: { namespaces: ['half'] } }),
  bindingYaml('half-label-b', 'label-b-sees-a', { match: { namespaces: ['half'] } }),
  bindingYaml('cycle', 'cycle', { match: { namespaces: ['cycle'] } }),
  bindingYaml('bigint', 'bigint', { match: { namespaces: ['bigint'] } }),
  bindingYaml('not-plain', 'not-plain', { match: { namespaces: ['not-plain'] } }),
  bindingYaml('undefined-members', 'undefined-members', { match: { namespaces: ['undefined-members'] } }),
  bindingYaml('async-mutate', 'async-mutate', { match: { namespaces: ['async-mutate'] } }),
  bindingYaml('mutate-hang', 'mutate-hang', { timeoutMs: 30, match: { namespaces: ['mutate-hang'] } }),
].join('');

describe('evaluateReview', () => {
  let root = '';
  let set: PolicySet;
  before(async () => {
    root = tempDir();
    set = await policySetFrom(root, POLICIES, BINDINGS);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const run = (ns: string, opts: { mutate?: boolean; object?: KubeObject; timeoutMs?: number } = {}) =>
    evaluateReview(set, decoded({ object: opts.object ?? pod('p', ns) }), {
      mutate: opts.mutate ?? false,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
  const withAnnotations = (ns: string, annotations: Record<string, string>) => pod('p', ns, { annotations });
  const record = (d: Decision, binding: string) => {
    const r = d.evaluations.find((e) => e.binding === binding);
    assert.ok(r, `no record for ${binding}`);
    return r;
  };

  describe('validate', () => {
    it('evaluates every binding and joins messages as [binding] message; …', async () => {
      const d = await run('deny');
      assert.deepEqual(
        d.evaluations.map((e) => [e.binding, e.outcome]),
        [
          ['deny-1', 'deny'],
          ['allow', 'allow'],
          ['deny-2', 'deny'],
        ],
      );
      assert.deepEqual(d.response, {
        uid: d.uid,
        allowed: false,
        status: {
          code: 403,
          reason: 'Forbidden',
          message: '[deny-1] no p; [deny-1] second; [deny-2] no p; [deny-2] second',
        },
      });
      assert.deepEqual(record(d, 'deny-1').violations, [
        { message: 'no p', path: 'metadata.name' },
        { message: 'second' },
      ]);
      assert.ok(record(d, 'deny-1').durationNs >= 0);
      assert.equal(d.kind, 'Pod');
      assert.equal(d.namespace, 'deny');
      assert.equal(d.name, 'p');
      assert.equal(d.operation, 'CREATE');
      assert.equal(d.patched, undefined);
      const body = JSON.parse(encodeDecision(decoded({ apiVersion: 'admission.k8s.io/v1beta1' }), d)) as {
        apiVersion: string;
      };
      assert.equal(body.apiVersion, 'admission.k8s.io/v1beta1');
    });

    it('warn turns violations into warnings; dryrun records them only', async () => {
      const d = await run('actions');
      assert.equal(d.response.allowed, true);
      assert.deepEqual(d.response.warnings, ['[as-warn] no p', '[as-warn] second']);
      assert.equal(record(d, 'as-warn').outcome, 'warn');
      assert.equal(record(d, 'as-dryrun').outcome, 'dryrun');
      assert.equal(record(d, 'as-dryrun').violations.length, 2);
    });

    it('no matching binding: allowed with no evaluations', async () => {
      const d = await run('nothing-here');
      assert.deepEqual(d.response, { uid: d.uid, allowed: true });
      assert.deepEqual(d.evaluations, []);
    });

    it('a throwing policy fails closed with its code and source line (source maps)', async () => {
      const d = await run('throw');
      const r = record(d, 'thrower');
      assert.equal(r.outcome, 'error');
      assert.equal(r.error?.code, 'TOLLGATE_ERR_POLICY_THREW');
      const line = lineOf(POLICIES.thrower!, 'return o.spec.nope.deeper');
      assert.match(r.error?.message ?? '', new RegExp(`\\(at (.*/)?rules/thrower/index\\.ts:${line}\\)$`));
      assert.equal(d.response.allowed, false);
      assert.match(
        d.response.status?.message ?? '',
        /^\[thrower\] policy failed \(TOLLGATE_ERR_POLICY_THREW\): Cannot read properties of undefined/,
      );
    });

    it('failurePolicy allow admits with a warning; warn and dryrun bindings never deny on failure', async () => {
      const open = await run('throw-open');
      assert.equal(open.response.allowed, true);
      assert.match(
        open.response.warnings?.[0] ?? '',
        /^\[thrower-open\] policy failed .*; allowed by failurePolicy$/,
      );
      const warn = await run('throw-warn');
      assert.equal(warn.response.allowed, true);
      assert.match(
        warn.response.warnings?.[0] ?? '',
        /^\[thrower-warn\] policy failed \(TOLLGATE_ERR_POLICY_THREW\)/,
      );
      const dry = await run('throw-dryrun');
      assert.deepEqual(dry.response, { uid: dry.uid, allowed: true });
      assert.equal(record(dry, 'thrower-dryrun').outcome, 'error');
    });

    it('a thrown non-Error and a rejected promise are failures too', async () => {
      const s = await run('throw-string');
      assert.match(
        record(s, 'throw-string').error?.message ?? '',
        /^a string \(in .*rules\/throw-string\/index\.ts\)$/,
      );
      const r = await run('rejects');
      assert.equal(record(r, 'rejects').error?.code, 'TOLLGATE_ERR_POLICY_THREW');
      const line = lineOf(POLICIES.rejects!, 'async boom');
      assert.match(
        record(r, 'rejects').error?.message ?? '',
        new RegExp(`async boom \\(at .*rules/rejects/index\\.ts:${line}\\)`),
      );
      assert.equal(r.response.allowed, false);
    });

    it('a thenable whose then() throws is a policy failure, not an engine error', async () => {
      for (const thenable of ['throws', 'resolves-to-throwing', 'getter']) {
        const d = await run('bad-thenable', { object: withAnnotations('bad-thenable', { thenable }) });
        const r = record(d, 'bad-thenable');
        assert.equal(r.error?.code, 'TOLLGATE_ERR_POLICY_THREW', thenable);
        assert.match(r.error?.message ?? '', /then threw/);
        assert.equal(d.response.allowed, false);
      }
    });

    it('garbage results are TOLLGATE_ERR_POLICY_BAD_RESULT', async () => {
      for (const garbage of ['num', 'null-item', 'empty', 'violations', 'warnings']) {
        const d = await run('garbage', { object: withAnnotations('garbage', { garbage }) });
        const r = record(d, 'garbage');
        assert.equal(r.outcome, 'error', garbage);
        assert.equal(r.error?.code, 'TOLLGATE_ERR_POLICY_BAD_RESULT', garbage);
        assert.equal(d.response.allowed, false);
      }
    });

    it('accepts every documented result shape', async () => {
      const shape = async (s: string) => run('shapes', { object: withAnnotations('shapes', { shape: s }) });
      assert.deepEqual(record(await shape('string'), 'shapes').violations, [{ message: 'just a string' }]);
      assert.deepEqual(record(await shape('object'), 'shapes').violations, [
        { message: 'one object', path: 'spec' },
      ]);
      const both = await shape('both');
      assert.equal(both.response.allowed, false);
      assert.deepEqual(both.response.warnings, ['[shapes] w']);
      const warnings = await shape('warnings');
      assert.equal(record(warnings, 'shapes').outcome, 'warn');
      assert.equal(warnings.response.allowed, true);
      assert.equal(record(await shape('empty'), 'shapes').outcome, 'allow');
      assert.equal(record(await shape('null'), 'shapes').outcome, 'allow');
      const many = record(await shape('many'), 'shapes').violations;
      assert.equal(many.length, 65, 'capped at 64 plus a summary');
      assert.equal(many[64]?.message, '…and 36 more');
      const long = record(await shape('long'), 'shapes').violations[0]?.message ?? '';
      assert.equal(long.length, 1024);
      assert.ok(long.endsWith('…'));
    });

    it('async policies are awaited', async () => {
      const d = await run('async');
      assert.equal(d.response.status?.message, '[async-ok] async violation');
    });

    it('timeouts: the binding, the policy and the request bound an async policy', async () => {
      const t0 = performance.now();
      const d = await run('hang');
      const elapsed = performance.now() - t0;
      assert.ok(elapsed < 2000, `took ${elapsed} ms`);
      for (const b of ['hang-binding', 'hang-policy']) {
        assert.equal(record(d, b).outcome, 'timeout');
        assert.equal(record(d, b).error?.code, 'TOLLGATE_ERR_POLICY_TIMEOUT');
      }
      assert.match(record(d, 'hang-binding').error?.message ?? '', /within 40 ms/);
      assert.match(record(d, 'hang-policy').error?.message ?? '', /within 50 ms/);
      assert.equal(d.response.allowed, false, 'fails closed');
      const req = await run('hang-request', { timeoutMs: 60 });
      assert.match(record(req, 'hang-request').error?.message ?? '', /within 60 ms/);
      assert.equal(req.response.allowed, true, 'failurePolicy allow');
    });

    it('freezeObjects makes a validate() that writes to the object fail', async () => {
      const loose = await run('writer');
      assert.equal(record(loose, 'writer').outcome, 'allow');
      const frozen = await evaluateReview(set, decoded({ object: pod('p', 'writer') }), {
        mutate: false,
        freezeObjects: true,
      });
      assert.equal(record(frozen, 'writer').error?.code, 'TOLLGATE_ERR_POLICY_THREW');
      assert.match(record(frozen, 'writer').error?.message ?? '', /read.only|Cannot assign/);
    });

    it('parameters are frozen: a policy cannot carry state from one request to the next', async () => {
      for (let i = 0; i < 2; i++) {
        const d = await run('params-writer');
        assert.equal(record(d, 'params-writer').error?.code, 'TOLLGATE_ERR_POLICY_THREW');
      }
      assert.deepEqual(set.bindings.find((b) => b.name === 'params-writer')?.params, { list: ['a'] });
    });

    it('ctx carries the request, binding and objects for every operation', async () => {
      const echo = async (init: Parameters<typeof decoded>[0]) => {
        const d = await evaluateReview(set, decoded(init), { mutate: false });
        return JSON.parse((d.response.warnings?.[0] ?? '').replace(/^\[echo\] /, '')) as Record<
          string,
          unknown
        >;
      };
      assert.deepEqual(await echo({ object: pod('p', 'echo'), dryRun: true }), {
        op: 'CREATE',
        dry: true,
        binding: 'echo',
        hasObject: true,
        old: null,
      });
      assert.deepEqual(await echo({ operation: 'DELETE', oldObject: pod('gone', 'echo') }), {
        op: 'DELETE',
        dry: false,
        binding: 'echo',
        hasObject: false,
        old: 'gone',
      });
    });
  });

  describe('mutate', () => {
    it('runs mutations in sequence; each sees the previous result; the patch applies', async () => {
      const object = pod('p', 'mutate');
      const d = await run('mutate', { mutate: true, object });
      assert.equal(d.response.allowed, true);
      assert.equal(d.response.patchType, 'JSONPatch');
      const ops = JSON.parse(Buffer.from(d.response.patch ?? '', 'base64').toString()) as never[];
      const patched = applyPatch(object, ops) as KubeObject;
      assert.deepEqual(patched.metadata?.labels, { a: '1', b: 'saw-a' });
      assert.deepEqual(d.patched, patched);
      assert.deepEqual(
        d.evaluations.map((e) => [e.binding, e.outcome]),
        [
          ['label-a', 'mutated'],
          ['label-b', 'mutated'],
        ],
      );
    });

    it('validate() policies do not run on /mutate and mutate() ones not on /validate', async () => {
      const v = await run('mutate');
      assert.deepEqual(v.evaluations, []);
      assert.equal(v.response.patch, undefined);
      const m = await run('deny', { mutate: true });
      assert.deepEqual(m.response, { uid: m.uid, allowed: true });
    });

    it('no change: no patch', async () => {
      const d = await run('mutate', {
        mutate: true,
        object: pod('p', 'mutate', { labels: { a: '1', b: 'saw-a' } }),
      });
      assert.deepEqual(d.response, { uid: d.uid, allowed: true });
      assert.deepEqual(
        d.evaluations.map((e) => e.outcome),
        ['allow', 'allow'],
      );
    });

    it('a dryrun mutation is recorded but not applied', async () => {
      const d = await run('mutate-dryrun', { mutate: true });
      assert.deepEqual(d.response, { uid: d.uid, allowed: true });
      assert.equal(d.evaluations[0]?.outcome, 'dryrun');
    });

    it('a mutation that fails half-way leaves nothing behind', async () => {
      const d = await run('half', { mutate: true });
      assert.equal(record(d, 'half').error?.code, 'TOLLGATE_ERR_POLICY_THREW');
      const ops = JSON.parse(Buffer.from(d.response.patch ?? '', 'base64').toString()) as {
        path: string;
        value: unknown;
      }[];
      assert.deepEqual(ops, [{ op: 'add', path: '/metadata/labels', value: { b: 'no-a' } }]);
      assert.equal(d.response.allowed, true, 'failurePolicy allow');
      assert.match(d.response.warnings?.[0] ?? '', /after a partial change/);
    });

    it('non-serialisable and non-object results are TOLLGATE_ERR_POLICY_BAD_RESULT', async () => {
      for (const ns of ['cycle', 'bigint', 'not-plain']) {
        const d = await run(ns, { mutate: true });
        assert.equal(record(d, ns).error?.code, 'TOLLGATE_ERR_POLICY_BAD_RESULT', ns);
        assert.equal(d.response.allowed, false, `${ns} fails closed`);
        assert.equal(d.response.patch, undefined);
      }
    });

    it('the patch carries the object as JSON would (undefined dropped, NaN as null)', async () => {
      const object = pod('p', 'undefined-members');
      const d = await run('undefined-members', { mutate: true, object });
      const ops = JSON.parse(Buffer.from(d.response.patch ?? '', 'base64').toString()) as never[];
      assert.deepEqual(ops, [{ op: 'add', path: '/extra', value: { keep: 1, list: [1, null, null] } }]);
    });

    it('async mutations are awaited and bounded by their timeout', async () => {
      const d = await run('async-mutate', { mutate: true });
      const ops = JSON.parse(Buffer.from(d.response.patch ?? '', 'base64').toString()) as unknown[];
      assert.deepEqual(ops, [{ op: 'add', path: '/metadata/annotations', value: { async: 'yes' } }]);
      const h = await run('mutate-hang', { mutate: true });
      assert.equal(record(h, 'mutate-hang').outcome, 'timeout');
      assert.equal(h.response.allowed, false);
    });

    it('DELETE and CONNECT are never patched', async () => {
      const del = await evaluateReview(set, decoded({ operation: 'DELETE', oldObject: pod('p', 'mutate') }), {
        mutate: true,
      });
      assert.deepEqual(del.response, { uid: del.uid, allowed: true });
      const connect = await evaluateReview(
        set,
        decoded({
          operation: 'CONNECT',
          namespace: 'mutate',
          name: 'p',
          object: { kind: 'PodAttachOptions', apiVersion: 'v1', metadata: { namespace: 'mutate' } },
        }),
        { mutate: true },
      );
      assert.equal(connect.response.patch, undefined);
    });
  });
});

describe('errorLocation', () => {
  it('finds the policy frame, absolute or relative, and nothing else', () => {
    const e = new Error('x');
    e.stack = `Error: x\n    at f (/srv/app/node_modules/lib.js:3:1)\n    at validate (${process.cwd()}/rules/p/index.ts:12:7)`;
    assert.equal(errorLocation(e, 'rules/p/index.ts'), 'rules/p/index.ts:12');
    assert.equal(errorLocation(e, './rules/p/index.ts'), 'rules/p/index.ts:12');
    e.stack = 'Error: x\n    at validate (/tmp/tollgate-build/rules/p/index.ts:5:1)';
    assert.equal(errorLocation(e, 'rules/p/index.ts'), 'rules/p/index.ts:5');
    assert.equal(errorLocation(e, 'rules/q/index.ts'), undefined);
    assert.equal(errorLocation('not an error', 'rules/p/index.ts'), undefined);
  });
});

describe('container lists shared by the bindings of one request', () => {
  // Bound to Pods: a Deployment is seen through its template (autogen), as a Pod view shared by both.
  const PODS = "match: { kinds: [{ apiGroups: [''], kinds: ['Pod'] }] },";
  let root = '';
  let set: PolicySet;
  before(async () => {
    root = tempDir();
    // Bound in this order: the vandal runs first, then the observer reports what it was handed.
    set = await policySetFrom(
      root,
      {
        vandal: validator(
          'vandal',
          `const list = ctx.containers();
           list.push({ image: 'evil' });
           list.reverse();
           const errors = [];
           try { ctx.containers()[0].image = 'evil'; } catch (e) { errors.push('entry'); }
           try { ctx.podSpecs()[0].path = 'evil'; } catch (e) { errors.push('pod'); }
           try { ctx.containers()[0].pod.path = 'evil'; } catch (e) { errors.push('container pod'); }
           return errors.map((e) => e + ' is read-only');`,
          PODS,
        ),
        observer: validator(
          'observer',
          `return ctx.containers().map((c) => c.path + '=' + c.image)
             .concat(ctx.containers(['containers']).map((c) => 'only ' + c.path))
             .concat(ctx.podSpecs().map((p) => 'pod ' + p.path));`,
          PODS,
        ),
      },
      [
        bindingYaml('a-vandal', 'vandal', { enforcementAction: 'warn' }),
        bindingYaml('b-observer', 'observer', { enforcementAction: 'warn' }),
      ].join(''),
    );
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('each policy gets its own copy of frozen entries', async () => {
    const object = pod('p', 'ns', { image: 'registry/app:1' });
    (object.spec as { initContainers?: unknown[] }).initContainers = [
      { name: 'init', image: 'registry/init:1' },
    ];
    const asDeployment = decoded({
      object: deployment(object),
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    });
    for (const review of [decoded({ object }), asDeployment]) {
      const d = await evaluateReview(set, review, { mutate: false });
      const prefix = review.request.object?.kind === 'Pod' ? '' : 'spec.template.';
      assert.deepEqual(d.response.warnings, [
        '[a-vandal] entry is read-only',
        '[a-vandal] pod is read-only',
        '[a-vandal] container pod is read-only',
        `[b-observer] ${prefix}spec.containers[0]=registry/app:1`,
        `[b-observer] ${prefix}spec.initContainers[0]=registry/init:1`,
        `[b-observer] only ${prefix}spec.containers[0]`,
        `[b-observer] pod ${prefix}spec`,
      ]);
    }
  });
});

function deployment(podObject: Record<string, unknown>): KubeObject {
  const { metadata, spec } = podObject as { metadata: Record<string, unknown>; spec: unknown };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', namespace: metadata.namespace as string },
    spec: { replicas: 1, template: { metadata: { labels: { app: 'd' } }, spec } },
  } as KubeObject;
}
