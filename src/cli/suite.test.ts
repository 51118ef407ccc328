import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isTollgateError } from '../errors.js';
import { findSuites, policyDirOf } from './suite.js';
import { SuiteRunner } from './suite-runner.js';

// A throwaway rules directory with policies that exercise what the seed policy cannot: a mutation,
// a validate() that writes to the object (must fail: objects are frozen), and an inventory lookup.
const POLICIES: Record<string, string> = {
  'add-team': `import { definePolicy } from 'tollgate/sdk';
export default definePolicy({
  name: 'add-team',
  parameters: { type: 'object', properties: { team: { type: 'string', default: 'platform' } } },
  mutate(ctx) {
    const o = ctx.object;
    if (o.metadata?.labels?.team !== undefined) return;
    return { ...o, metadata: { ...o.metadata, labels: { ...o.metadata?.labels, team: ctx.params.team },
      annotations: { ...o.metadata?.annotations, 'tollgate.dev/mutated': 'add-team' } } };
  },
});
`,
  'writes-object': `import { definePolicy } from 'tollgate/sdk';
export default definePolicy({
  name: 'writes-object',
  validate(ctx) {
    ctx.object.metadata.labels = { sneaky: 'yes' };
    return [];
  },
});
`,
  'namespace-team': `import { definePolicy } from 'tollgate/sdk';
export default definePolicy({
  name: 'namespace-team',
  validate(ctx) {
    const ns = ctx.inventory.namespace(ctx.request.namespace ?? '');
    if (ns === undefined) return 'namespace ' + ctx.request.namespace + ' is not known';
    if (!ns.metadata?.labels?.team) return { message: 'namespace ' + ns.metadata.name + ' has no team label', path: 'metadata.namespace' };
  },
});
`,
};

const pod = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'apps', ...extra },
  spec: { containers: [{ name: 'c', image: 'x' }] },
});

let dir: string;
let rules: string;
let runner: SuiteRunner;

function writeSuite(rel: string, doc: unknown): string {
  const path = join(rules, rel);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
  return path;
}

async function runAll(path: string) {
  const suite = runner.loadSuite(path);
  return Promise.all(suite.cases.map((c) => runner.runCase(suite, c)));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-suite-'));
  rules = join(dir, 'rules');
  for (const [name, src] of Object.entries(POLICIES)) {
    mkdirSync(join(rules, name), { recursive: true });
    writeFileSync(join(rules, name, 'index.ts'), src);
  }
  runner = await SuiteRunner.create({ rules, cacheDir: join(dir, 'cache') });
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('mutation cases', () => {
  test('the returned patch is decoded, applied and compared with expect.patched', async () => {
    const path = writeSuite('add-team/ok.test.yaml', {
      binding: { parameters: { team: 'payments' } },
      cases: [
        {
          name: 'adds the label and annotation',
          mutate: true,
          object: pod('p'),
          expect: {
            allowed: true,
            patched: {
              ...pod('p'),
              metadata: {
                name: 'p',
                namespace: 'apps',
                labels: { team: 'payments' },
                annotations: { 'tollgate.dev/mutated': 'add-team' },
              },
            },
          },
        },
        {
          name: 'leaves a labelled pod alone',
          mutate: true,
          object: pod('q', { labels: { team: 'a' } }),
          expect: { patched: pod('q', { labels: { team: 'a' } }) },
        },
      ],
    });
    const results = await runAll(path);
    assert.deepEqual(
      results.map((r) => [r.name, r.passed, r.failures]),
      [
        ['adds the label and annotation', true, []],
        ['leaves a labelled pod alone', true, []],
      ],
    );
  });

  test('a wrong expectation fails with a diff of expected and actual', async () => {
    const path = writeSuite('add-team/wrong.test.yaml', {
      cases: [
        {
          name: 'expects the wrong team',
          mutate: true,
          object: pod('p'),
          expect: { patched: pod('p', { labels: { team: 'payments' } }) },
        },
      ],
    });
    const [r] = await runAll(path);
    assert.equal(r?.passed, false);
    const text = r?.failures.join('\n') ?? '';
    assert.match(text, /^patched: the object after the patch differs/m);
    assert.match(text, /^\s+- +team: payments$/m);
    assert.match(text, /^\s+\+ +team: platform$/m);
    assert.match(text, /^\s+\+ +tollgate\.dev\/mutated: add-team$/m);
  });
});

describe('validation cases', () => {
  test('objects are frozen: a validate() that writes to the object fails the binding', async () => {
    const path = writeSuite('writes-object/frozen.test.yaml', {
      cases: [
        {
          name: 'fails closed',
          object: pod('p'),
          expect: { allowed: false, error: 'TOLLGATE_ERR_POLICY_THREW', messages: ['policy failed'] },
        },
        {
          name: 'fails open with failurePolicy allow',
          binding: { failurePolicy: 'allow' },
          object: pod('p'),
          expect: {
            allowed: true,
            error: 'TOLLGATE_ERR_POLICY_THREW',
            warnings: ['allowed by failurePolicy'],
          },
        },
      ],
    });
    const results = await runAll(path);
    for (const r of results) assert.ok(r.passed, `${r.name}: ${r.failures.join('\n')}`);
  });

  test('inventory comes from data (suite level, replaced per case; files relative to the suite)', async () => {
    const ns = (labels: Record<string, string>) => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'apps', labels },
    });
    writeSuite('namespace-team/fixtures/ns.yaml', ns({ team: 'a' }));
    const path = writeSuite('namespace-team/inv.test.yaml', {
      data: [ns({})],
      cases: [
        {
          name: 'denies without a team label',
          object: pod('p'),
          expect: {
            allowed: false,
            messages: ['has no team label'],
            paths: ['metadata.namespace'],
            violations: 1,
          },
        },
        {
          name: 'allows with one',
          data: ['fixtures/ns.yaml'],
          object: pod('p'),
          expect: { allowed: true, violations: 0 },
        },
        {
          name: 'denies an unknown namespace',
          data: [],
          object: pod('p'),
          expect: { allowed: false, messages: ['namespace apps is not known'] },
        },
        {
          name: 'the case namespace overrides the object',
          namespace: 'other',
          object: pod('p'),
          expect: { messages: ['namespace other is not known'] },
        },
      ],
    });
    const results = await runAll(path);
    for (const r of results) assert.ok(r.passed, `${r.name}: ${r.failures.join('\n')}`);
  });

  test('whole binding documents, counted over all bindings', async () => {
    const binding = (name: string, action: string) => ({
      apiVersion: 'tollgate.dev/v1alpha1',
      kind: 'Binding',
      metadata: { name },
      spec: { policy: 'namespace-team', enforcementAction: action },
    });
    const path = writeSuite('namespace-team/multi.test.yaml', {
      bindings: [binding('strict', 'deny'), binding('soft', 'warn')],
      cases: [
        {
          name: 'two bindings, one violation each',
          object: pod('p'),
          expect: { allowed: false, violations: 2, messages: ['[strict]'], warnings: ['[soft]'] },
        },
      ],
    });
    const [r] = await runAll(path);
    assert.ok(r?.passed, r?.failures.join('\n'));
  });

  test('a raw review reaches the decoder: a bad one is an HTTP 400 with its code', async () => {
    const path = writeSuite('namespace-team/review.test.yaml', {
      cases: [
        {
          name: 'wrong apiVersion',
          review: { apiVersion: 'admission.k8s.io/v2', kind: 'AdmissionReview', request: {} },
          expect: { error: 'TOLLGATE_ERR_ADMISSION_BAD_GVK' },
        },
        {
          name: 'but not when an allowed answer is expected',
          review: { apiVersion: 'admission.k8s.io/v2' },
          expect: { allowed: true },
        },
      ],
    });
    const [ok, bad] = await runAll(path);
    assert.ok(ok?.passed, ok?.failures.join('\n'));
    assert.equal(bad?.passed, false);
    assert.match(bad?.failures[0] ?? '', /HTTP 400 TOLLGATE_ERR_ADMISSION_BAD_GVK/);
  });

  test('each unmet expectation is reported', async () => {
    const path = writeSuite('namespace-team/fail.test.yaml', {
      data: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps', labels: { team: 'a' } } }],
      cases: [
        {
          name: 'everything wrong',
          object: pod('p'),
          expect: {
            allowed: false,
            messages: ['nope'],
            warnings: ['w'],
            violations: 3,
            paths: ['spec'],
            error: 'TOLLGATE_ERR_POLICY_TIMEOUT',
          },
        },
      ],
    });
    const [r] = await runAll(path);
    assert.equal(r?.passed, false);
    const starts = r?.failures.map((f) => f.split(':')[0]);
    assert.deepEqual(starts, ['allowed', 'messages', 'warnings', 'violations', 'paths', 'error']);
    assert.match(r?.failures[0] ?? '', /allowed: expected false, got true/);
  });
});

describe('suite files', () => {
  test('every problem is listed with file, line, case and field', () => {
    const path = writeSuite(
      'namespace-team/invalid.test.yaml',
      `bogus: 1
cases:
  - name: first
    object: { apiVersion: v1, kind: Pod, metadata: { name: a } }
    expect: { allowed: maybe }
  - name: second
    objet: { apiVersion: v1, kind: Pod }
    expect: {}
  - name: third
    objectFile: missing.yaml
    expect: { error: TOLLGATE_ERR_NOT_A_CODE, patched: {} }
`,
    );
    assert.throws(
      () => runner.loadSuite(path),
      (e: unknown) => {
        assert.ok(isTollgateError(e));
        assert.equal(e.code, 'TOLLGATE_ERR_TEST_INVALID');
        const problems = e.details.problems as string[];
        const has = (re: RegExp) =>
          assert.ok(
            problems.some((p) => re.test(p)),
            `${re} in\n${problems.join('\n')}`,
          );
        has(/invalid\.test\.yaml:1: bogus: unknown field/);
        has(/invalid\.test\.yaml:3: cases\[0\] \(first\)\.expect\.allowed: must be true or false/);
        has(/invalid\.test\.yaml:6: cases\[1\] \(second\)\.objet: unknown field/);
        has(/:6: cases\[1\] \(second\): needs an object/);
        has(/:6: cases\[1\] \(second\)\.expect: asserts nothing/);
        has(/:9: cases\[2\] \(third\)\.objectFile: cannot read missing\.yaml/);
        has(/:9: cases\[2\] \(third\)\.expect\.error: must be an error code/);
        has(/:9: cases\[2\] \(third\)\.expect\.patched: needs `mutate: true`/);
        return true;
      },
    );
  });

  test('a YAML syntax error names file and line', () => {
    const path = writeSuite('namespace-team/syntax.test.yaml', 'cases:\n  - name: a\n    object: {x: 1\n');
    assert.throws(
      () => runner.loadSuite(path),
      (e: unknown) =>
        isTollgateError(e) &&
        e.code === 'TOLLGATE_ERR_INPUT_PARSE' &&
        /syntax\.test\.yaml:\d+:/.test(e.message),
    );
  });

  test('a suite outside the rules directory must name its policy', () => {
    const outside = join(dir, 'elsewhere.test.yaml');
    writeFileSync(
      outside,
      JSON.stringify({ cases: [{ name: 'a', object: pod('a'), expect: { allowed: true } }] }),
    );
    assert.throws(() => runner.loadSuite(outside), /policy: is required/);
    writeFileSync(
      outside,
      JSON.stringify({
        policy: 'namespace-team',
        cases: [{ name: 'a', object: pod('a'), expect: { allowed: false } }],
      }),
    );
    assert.equal(runner.loadSuite(outside).policy, 'namespace-team');
  });

  test('discovery finds *.test.yaml below directories, takes named files as given, maps files to policy dirs', () => {
    const found = findSuites([rules]);
    assert.ok(found.length > 0 && found.every((f) => f.endsWith('.test.yaml')));
    assert.ok(!found.some((f) => f.endsWith('ns.yaml')));
    assert.equal(policyDirOf(join(rules, 'add-team', 'x.test.yaml'), rules), 'add-team');
    assert.equal(policyDirOf(join(rules, 'add-team', 'sub', 'x.test.yaml'), rules), 'add-team');
    assert.equal(policyDirOf(join(dir, 'x.test.yaml'), rules), undefined);
    assert.throws(() => findSuites([join(dir, 'nope')]), /cannot read/);
  });
});
