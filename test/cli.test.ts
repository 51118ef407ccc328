/**
 * The offline commands as a user runs them: each test spawns the real CLI (src/main.ts through
 * scripts/tollgate-dev.mjs, i.e. the same `main` bin/tollgate.js runs from dist/) and checks exit codes,
 * stdout and stderr. The seed blog's three pods go through scan, eval and test.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';

const ENTRY = ['--import', 'tsx', 'scripts/tollgate-dev.mjs'];
const TIMEOUT_MS = 60_000;
const PODS = ['nginx-allowed', 'nginx-dockerhub', 'nginx-latest'];
const DOCKERHUB_MSG = 'nginx:1.21.1 repo not start with 192.168.64.1';
const LATEST_MSG = '192.168.64.1:5000/nginx:latest tag end with :latest';

const children = new Set<ChildProcess>();
let dir: string;
/** A rules directory with only the seed policy (compiles fast) plus extras some tests add. */
let rules: string;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(args: readonly string[]): ChildProcess {
  const child = spawn(process.execPath, [...ENTRY, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
  child.on('exit', () => clearTimeout(timer));
  return child;
}

function tollgate(args: readonly string[], input?: string): Promise<Run> {
  const child = start(args);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin?.end(input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function podReview(name: string, uid = `uid-${name}`): string {
  const object = parse(readFileSync(`examples/seed/pods/${name}.yaml`, 'utf8'));
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'default',
      name,
      operation: 'CREATE',
      userInfo: { username: 'alice' },
      object,
    },
  });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
  rules = join(dir, 'rules');
  mkdirSync(rules);
  cpSync('rules/seed-image-check', join(rules, 'seed-image-check'), { recursive: true });
  // The seed suite reads the blog's pods from ../../examples/seed/pods (relative to the suite).
  cpSync('examples/seed', join(dir, 'examples', 'seed'), { recursive: true });
});

after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('tollgate scan', () => {
  test('the seed acceptance: two pods denied with the blog messages, the third allowed, exit 1', async () => {
    const r = await tollgate([
      'scan',
      '--rules',
      'rules',
      '--config',
      'examples/seed',
      'examples/seed/pods/',
    ]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.split('\n');
    const row = (name: string) => lines.find((l) => l.includes(`default/${name} `)) ?? '';
    assert.match(
      row('nginx-dockerhub'),
      new RegExp(`seed-image-check\\s+denied\\s+${DOCKERHUB_MSG.replace(/\./g, '\\.')}$`),
    );
    assert.match(
      row('nginx-latest'),
      /seed-image-check\s+denied\s+192\.168\.64\.1:5000\/nginx:latest tag end with :latest$/,
    );
    assert.match(row('nginx-allowed'), /\sallowed$/);
    assert.match(r.stdout, /3 objects: 1 allowed, 2 denied\n$/);
  });

  test('stdin (-) with multi-document YAML, -o json, namespaces defaulted as kubectl would', async () => {
    const docs = PODS.map((p) =>
      readFileSync(`examples/seed/pods/${p}.yaml`, 'utf8').replace(/\n {2}namespace: default/, ''),
    );
    docs.push('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n');
    const r = await tollgate(
      ['scan', '--rules', rules, '--config', 'examples/seed/binding.yaml', '-o', 'json', '-'],
      docs.join('---\n'),
    );
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as {
      objects: {
        kind: string;
        name: string;
        namespace?: string;
        allowed: boolean;
        source: string;
        results: { decision: string; message: string }[];
      }[];
      summary: unknown;
    };
    assert.deepEqual(out.summary, { objects: 4, allowed: 2, denied: 2 });
    assert.deepEqual(
      out.objects.map((o) => [o.kind, o.name, o.namespace, o.allowed]),
      [
        ['Pod', 'nginx-allowed', 'default', true],
        ['Pod', 'nginx-dockerhub', 'default', false],
        ['Pod', 'nginx-latest', 'default', false],
        ['Namespace', 'team-a', undefined, true],
      ],
    );
    assert.deepEqual(out.objects[1]?.results, [
      {
        binding: 'seed-image-check',
        policy: 'seed-image-check',
        decision: 'denied',
        message: DOCKERHUB_MSG,
        path: 'spec.containers[0].image',
      },
    ]);
    assert.match(out.objects[1]?.source ?? '', /^<stdin>:\d+$/);
  });

  test('Namespaces among the manifests are inventory for namespaceSelector', async () => {
    const binding = join(dir, 'ns-selector.yaml');
    writeFileSync(
      binding,
      readFileSync('examples/seed/binding.yaml', 'utf8').replace(
        '  enforcementAction: deny',
        "  enforcementAction: deny\n  match:\n    namespaceSelector: {matchLabels: {registry-check: 'on'}}",
      ),
    );
    const manifests = [
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels: {registry-check: 'on'}\n",
      readFileSync('examples/seed/pods/nginx-dockerhub.yaml', 'utf8').replace(
        'namespace: default',
        'namespace: team-a',
      ),
      readFileSync('examples/seed/pods/nginx-latest.yaml', 'utf8'),
    ].join('---\n');
    const r = await tollgate(['scan', '--rules', rules, '--config', binding, '-o', 'json', '-'], manifests);
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { objects: { name: string; namespace?: string; allowed: boolean }[] };
    assert.deepEqual(
      out.objects.map((o) => [o.name, o.namespace, o.allowed]),
      [
        ['team-a', undefined, true],
        ['nginx-dockerhub', 'team-a', false],
        ['nginx-latest', 'default', true],
      ],
      'the selector matches team-a (labelled in the same input) and not default (unknown)',
    );
  });

  test('nothing denied: exit 0', async () => {
    const r = await tollgate([
      'scan',
      '--rules',
      rules,
      '--config',
      'examples/seed/binding.yaml',
      'examples/seed/pods/nginx-allowed.yaml',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 object: 1 allowed, 0 denied/);
  });

  test('bad YAML: exit 2 naming file and line', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels: {a: 1\n');
    const r = await tollgate(['scan', '--rules', rules, '--config', 'examples/seed/binding.yaml', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.yaml:\d+: .*\[TOLLGATE_ERR_INPUT_PARSE\]/);
    assert.equal(r.stdout, '');
  });

  test('a document that is not a Kubernetes object: exit 2 naming file and line', async () => {
    const r = await tollgate(
      ['scan', '--rules', rules, '--config', 'examples/seed/binding.yaml', '-'],
      'apiVersion: v1\nkind: Pod\n---\n- just\n- a list\n',
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /<stdin>:4: document 2 is not a Kubernetes object/);
  });

  test('a binding to an unknown policy lists the available ones', async () => {
    const binding = join(dir, 'unknown-binding.yaml');
    writeFileSync(
      binding,
      'apiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata: {name: b}\nspec: {policy: no-such-policy}\n',
    );
    const r = await tollgate(['scan', '--rules', rules, '--config', binding, 'examples/seed/pods/']);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /unknown-binding\.yaml:1 .*unknown policy "no-such-policy"; available: seed-image-check \[TOLLGATE_ERR_BINDING_UNKNOWN_POLICY\]/,
    );
  });

  test('a policy with a syntax error names its file and line', async () => {
    const broken = join(dir, 'broken-rules');
    mkdirSync(join(broken, 'oops'), { recursive: true });
    writeFileSync(
      join(broken, 'oops', 'index.ts'),
      "import { definePolicy } from 'tollgate/sdk';\nexport default definePolicy({\n  name: 'oops',\n  validate(ctx) {\n    return [;\n  },\n});\n",
    );
    const r = await tollgate(['scan', '--rules', broken, 'examples/seed/pods/']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /oops\/index\.ts:5:\d+: .*\[TOLLGATE_ERR_POLICY_COMPILE\]/s);
  });

  test('usage errors exit 2', async () => {
    const none = await tollgate(['scan', '--rules', rules]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /name the manifests to scan/);
    const flag = await tollgate(['scan', '--no-such-flag', 'x']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /no-such-flag/);
  });
});

describe('tollgate eval', () => {
  test('JSON lines in order; a bad middle line gets an error object and the rest go on', async () => {
    const input = [
      podReview('nginx-allowed'),
      '{"apiVersion": "admission.k8s.io/v1", "kind": ',
      podReview('nginx-dockerhub'),
      '',
      podReview('nginx-latest'),
    ].join('\n');
    const r = await tollgate(
      ['eval', '--rules', rules, '--config', 'examples/seed/binding.yaml'],
      `${input}\n`,
    );
    assert.equal(r.code, 2, 'a bad line makes the exit code 2 once every line is answered');
    const out = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(out.length, 4);
    assert.deepEqual(out[0], {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-nginx-allowed', allowed: true },
    });
    assert.equal(out[1].line, 2);
    assert.equal(out[1].error.code, 'TOLLGATE_ERR_ADMISSION_BAD_JSON');
    assert.equal(typeof out[1].error.message, 'string');
    assert.equal(out[2].response.uid, 'uid-nginx-dockerhub');
    assert.equal(out[2].response.allowed, false);
    assert.equal(out[2].response.status.message, `[seed-image-check] ${DOCKERHUB_MSG}`);
    assert.equal(out[3].response.uid, 'uid-nginx-latest');
    assert.equal(out[3].response.status.message, `[seed-image-check] ${LATEST_MSG}`);
  });

  test('all good lines: exit 0; wrong kind of document: an error line with its code', async () => {
    const ok = await tollgate(
      ['eval', '--rules', rules, '--config', 'examples/seed/binding.yaml'],
      `${podReview('nginx-allowed')}\n`,
    );
    assert.equal(ok.code, 0, ok.stderr);
    const wrong = await tollgate(['eval', '--rules', rules], '{"apiVersion":"v1","kind":"Pod"}\n');
    assert.match(wrong.stderr, /warning: no bindings loaded/);
    assert.deepEqual(JSON.parse(wrong.stdout).error.code, 'TOLLGATE_ERR_ADMISSION_BAD_GVK');
  });

  test('streams: each answer is written before the next line is sent', async () => {
    const child = start(['eval', '--rules', rules, '--config', 'examples/seed/binding.yaml']);
    let stdout = '';
    const waiters: (() => void)[] = [];
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      for (const w of waiters.splice(0)) w();
    });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const lines = async (n: number) => {
      const deadline = Date.now() + TIMEOUT_MS;
      while (stdout.split('\n').length - 1 < n) {
        assert.ok(Date.now() < deadline, `no answer ${n} within the deadline`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 1000).unref();
        });
      }
    };
    for (const [i, pod] of PODS.entries()) {
      child.stdin?.write(`${podReview(pod, `s-${i}`)}\n`);
      await lines(i + 1);
    }
    child.stdin?.end();
    assert.equal(await closed, 0);
    assert.deepEqual(
      stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).response.uid),
      ['s-0', 's-1', 's-2'],
    );
  });

  test('a reader that goes away (| head -1) ends eval quietly, even while output is backed up', async () => {
    const child = start(['eval', '--rules', rules, '--config', 'examples/seed/binding.yaml']);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Nobody reads stdout: ~600 KB of answers overflow the pipe, so eval waits for 'drain'...
    child.stdout?.pause();
    child.stdin?.on('error', () => {}); // the child may be gone before the last write lands
    child.stdin?.end(`${podReview('nginx-dockerhub')}\n`.repeat(3000));
    const deadline = Date.now() + TIMEOUT_MS;
    while ((child.stdout?.readableLength ?? 0) < 8192) {
      assert.ok(Date.now() < deadline, 'eval produced no output');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // ...and then the reader goes away, as `head -1` does.
    child.stdout?.destroy();
    assert.equal(await closed, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE|Error/);
  });

  test('answers leave in input order even when async policies finish out of order', async () => {
    const arules = join(dir, 'async-rules');
    mkdirSync(join(arules, 'slow'), { recursive: true });
    writeFileSync(
      join(arules, 'slow', 'index.ts'),
      "import { definePolicy } from 'tollgate/sdk';\nexport default definePolicy({\n  name: 'slow',\n  async validate(ctx) {\n    await new Promise((r) => setTimeout(r, Number(ctx.object?.metadata?.labels?.delay ?? 0)));\n    return ctx.object?.metadata?.labels?.deny ? 'denied after ' + ctx.object.metadata.labels.delay + ' ms' : [];\n  },\n});\n",
    );
    const binding = join(dir, 'slow.yaml');
    writeFileSync(
      binding,
      'apiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata: {name: slow}\nspec: {policy: slow}\n',
    );
    const delays = [400, 0, 250, 10, 120, 0];
    const input = delays.map((d, i) => {
      const review = JSON.parse(podReview('nginx-allowed', `a-${i}`));
      review.request.object.metadata.labels = { delay: String(d), ...(i % 2 ? { deny: 'yes' } : {}) };
      return JSON.stringify(review);
    });
    const r = await tollgate(['eval', '--rules', arules, '--config', binding], `${input.join('\n')}\n`);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).response);
    assert.deepEqual(
      out.map((res) => [res.uid, res.allowed]),
      delays.map((_, i) => [`a-${i}`, i % 2 === 0]),
    );
    assert.equal(out[1].status.message, '[slow] denied after 0 ms');
  });

  test('--mutate returns the patch of a mutating policy', async () => {
    const mrules = join(dir, 'mutate-rules');
    mkdirSync(join(mrules, 'add-team'), { recursive: true });
    writeFileSync(
      join(mrules, 'add-team', 'index.ts'),
      "import { definePolicy } from 'tollgate/sdk';\nexport default definePolicy({\n  name: 'add-team',\n  mutate(ctx) {\n    return { ...ctx.object, metadata: { ...ctx.object.metadata, labels: { team: 'a' } } };\n  },\n});\n",
    );
    const binding = join(dir, 'add-team.yaml');
    writeFileSync(
      binding,
      'apiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata: {name: add-team}\nspec: {policy: add-team}\n',
    );
    const r = await tollgate(
      ['eval', '--mutate', '--rules', mrules, '--config', binding],
      `${podReview('nginx-allowed')}\n`,
    );
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout).response;
    assert.equal(res.allowed, true);
    assert.equal(res.patchType, 'JSONPatch');
    assert.deepEqual(JSON.parse(Buffer.from(res.patch, 'base64').toString()), [
      { op: 'add', path: '/metadata/labels', value: { team: 'a' } },
    ]);
    const plain = await tollgate(
      ['eval', '--rules', mrules, '--config', binding],
      `${podReview('nginx-allowed')}\n`,
    );
    assert.equal(
      JSON.parse(plain.stdout).response.patch,
      undefined,
      'without --mutate, mutating policies do not run',
    );
  });
});

describe('tollgate test', () => {
  test('the seed suite passes: one line per case, a summary, JUnit', async () => {
    const junit = join(dir, 'junit.xml');
    const r = await tollgate(['test', '--rules', rules, '--junit', junit]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^rules\/seed-image-check\/seed-image-check\.test\.yaml$|seed-image-check\.test\.yaml\n/m,
    );
    assert.match(r.stdout, /✓ denies the blog's Docker Hub pod/);
    assert.match(r.stdout, /✓ hole: initContainers are not checked/);
    assert.doesNotMatch(r.stdout, /✗/);
    const [, cases, passed] = /1 suite, (\d+) cases: (\d+) passed, 0 failed/.exec(r.stdout) ?? [];
    assert.ok(Number(cases) >= 5 && cases === passed, r.stdout);
    const xml = readFileSync(junit, 'utf8');
    assert.match(
      xml,
      new RegExp(`<testsuites name="tollgate test" tests="${cases}" failures="0" errors="0"`),
    );
  });

  test('a failing case: ✗ with the reason, exit 1; an invalid suite: exit 2', async () => {
    const failing = join(rules, 'seed-image-check', 'zz-failing.test.yaml');
    writeFileSync(
      failing,
      `binding: {parameters: {registry: 192.168.64.1}}
cases:
  - name: wrongly expects the Docker Hub pod allowed
    objectFile: ${join(process.cwd(), 'examples/seed/pods/nginx-dockerhub.yaml')}
    expect: {allowed: true}
`,
    );
    try {
      const r = await tollgate(['test', '--rules', rules, failing]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /✗ wrongly expects the Docker Hub pod allowed/);
      assert.match(
        r.stdout,
        /allowed: expected true, got false\n\s+allowed: false\n\s+denial: \[seed-image-check\] nginx:1\.21\.1 repo not start with/,
      );
      assert.match(r.stdout, /1 suite, 1 case: 0 passed, 1 failed/);

      writeFileSync(failing, 'cases:\n  - name: no expectations\n    object: {apiVersion: v1, kind: Pod}\n');
      const bad = await tollgate(['test', '--rules', rules, failing]);
      assert.equal(bad.code, 2);
      assert.match(
        bad.stdout,
        /zz-failing\.test\.yaml:2: cases\[0\] \(no expectations\)\.expect: is required/,
      );
    } finally {
      rmSync(failing, { force: true });
    }
  });

  test('no suites under a path: exit 2', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    const r = await tollgate(['test', '--rules', rules, empty]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no \*\.test\.yaml under/);
  });
});
