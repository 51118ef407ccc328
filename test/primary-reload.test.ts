// Hot reload with real processes: a ConfigMap-style `..data` symlink swap changes decisions under load
// with zero failed requests; a broken rule set or binding is rejected and the old set keeps answering;
// a rotated certificate is served on new connections.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { connect } from 'node:tls';
import {
  bindingYaml,
  makeTree,
  post,
  REGISTRY_POLICY,
  review,
  type Served,
  sample,
  serve,
  startLoad,
  type Tree,
  waitFor,
} from './helpers/serve-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const RELOAD_OK = 'tollgate_reloads_total{result="ok",what="policies"}';
const RELOAD_FAILED = 'tollgate_reloads_total{result="failed",what="policies"}';

/** Decisions for a few fresh connections (each may land on any worker). */
async function decisions(port: number, image: string, n = 6): Promise<(boolean | undefined)[]> {
  const out: (boolean | undefined)[] = [];
  for (let i = 0; i < n; i++) {
    const a = await post(port, review(image));
    assert.equal(a.status, 200, a.body);
    out.push(a.allowed);
  }
  return out;
}

function servedFingerprint(port: number): Promise<string> {
  return new Promise((res, rej) => {
    const sock = connect(
      { host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' },
      () => {
        const fp = sock.getPeerX509Certificate()?.fingerprint256 ?? '';
        sock.destroy();
        res(fp);
      },
    );
    sock.on('error', rej);
  });
}

test('policy hot reload: symlink swap under load, broken sets rejected, certificate rotation', async () => {
  const tree = makeTree('registry.good');
  cleanups.push(() => tree.remove());
  const s = await serve(tree, { workers: 2 });
  cleanups.push(() => s.kill());
  const workersReloaded = (generation: number): number =>
    s.logs.filter((l) => l.msg === 'worker reloaded' && l.what === 'policies' && l.generation === generation)
      .length;
  try {
    await scenario(s, tree, workersReloaded);
  } catch (e) {
    process.stderr.write(`# serve logs:\n${s.tail()}\n`);
    throw e;
  }
  assert.ok(
    !s.logs.some((l) => l.msg?.startsWith('worker could not apply')),
    'every worker applied every reload',
  );
  process.kill(s.proc.pid as number, 'SIGTERM');
  assert.equal(await s.exited, 0);
});

async function scenario(
  s: Served,
  tree: Tree,
  workersReloaded: (generation: number) => number,
): Promise<void> {
  assert.deepEqual(await decisions(s.port, 'registry.good/app:1'), Array(6).fill(true));
  assert.deepEqual(await decisions(s.port, 'registry.other/app:1'), Array(6).fill(false));

  // 1. The bindings ConfigMap changes (kubelet-style ..data swap) while requests flow.
  const load = startLoad(s.port, review('registry.good/app:1'), 4);
  let stats: Awaited<ReturnType<typeof load.stop>>;
  try {
    await waitFor('load running', () => (load.stats.ok >= 20 ? true : undefined), 30_000);
    tree.swapBindings(bindingYaml('registry.other'));
    await waitFor(
      'both workers on generation 2',
      () => (workersReloaded(2) === 2 ? true : undefined),
      90_000,
    );
    const okAtReload = load.stats.ok;
    await waitFor(
      'answers after the reload',
      () => (load.stats.ok >= okAtReload + 20 ? true : undefined),
      30_000,
    );
  } finally {
    stats = await load.stop();
  }
  assert.equal(stats.failed, 0, `failed requests during the reload: ${stats.errors.slice(0, 5).join('; ')}`);
  assert.ok(
    stats.allowed > 0 && stats.denied > 0,
    `the decision changed mid-load (${stats.allowed} allowed, ${stats.denied} denied)`,
  );
  assert.deepEqual(await decisions(s.port, 'registry.good/app:1'), Array(6).fill(false));
  assert.deepEqual(await decisions(s.port, 'registry.other/app:1'), Array(6).fill(true));
  let text = await s.metrics();
  assert.equal(sample(text, RELOAD_OK), 1);
  assert.equal(sample(text, 'tollgate_bindings_loaded{worker="0"}'), 1);
  assert.equal(sample(text, 'tollgate_bindings_loaded{worker="1"}'), 1);

  // 2. A policy that does not compile: rejected, counted, and generation 2 keeps answering.
  tree.writePolicy('only-registry', `${REGISTRY_POLICY}\nexport const broken = ;\n`);
  await waitFor(
    'the broken policy is rejected',
    async () => (sample(await s.metrics(), RELOAD_FAILED) === 1 ? true : undefined),
    90_000,
  );
  const rejected = s.logs.find((l) => l.msg?.startsWith('policy reload rejected'));
  assert.equal(rejected?.code, 'TOLLGATE_ERR_POLICY_COMPILE');
  assert.deepEqual(await decisions(s.port, 'registry.good/app:1'), Array(6).fill(false));
  assert.deepEqual(await decisions(s.port, 'registry.other/app:1'), Array(6).fill(true));

  // 3. Policy fixed, but the ConfigMap now binds a policy that does not exist: rejected too.
  tree.writePolicy('only-registry', REGISTRY_POLICY);
  tree.swapBindings(bindingYaml('registry.third').replace('policy: only-registry', 'policy: no-such-policy'));
  await waitFor(
    'the bad binding is rejected',
    async () => (sample(await s.metrics(), RELOAD_FAILED) === 2 ? true : undefined),
    90_000,
  );
  assert.ok(s.logs.some((l) => l.code === 'TOLLGATE_ERR_BINDING_UNKNOWN_POLICY'));
  assert.deepEqual(await decisions(s.port, 'registry.other/app:1'), Array(6).fill(true));
  text = await s.metrics();
  assert.equal(sample(text, RELOAD_OK), 1, 'nothing was sent to the workers');
  assert.equal(workersReloaded(3), 0);

  // 4. A good set again: accepted as generation 3.
  tree.swapBindings(bindingYaml('registry.third'));
  await waitFor('both workers on generation 3', () => (workersReloaded(3) === 2 ? true : undefined), 90_000);
  assert.deepEqual(await decisions(s.port, 'registry.third/app:1'), Array(6).fill(true));
  assert.deepEqual(await decisions(s.port, 'registry.other/app:1'), Array(6).fill(false));

  // 5. A key that does not match the certificate is rejected; the workers keep the old pair.
  const oldFp = await servedFingerprint(s.port);
  assert.equal(oldFp, new X509Certificate(readFileSync(tree.cert)).fingerprint256);
  tree.mismatchKey();
  await waitFor(
    'the mismatched key is rejected',
    async () =>
      sample(await s.metrics(), 'tollgate_reloads_total{result="failed",what="certs"}') === 1
        ? true
        : undefined,
    90_000,
  );
  assert.equal(await servedFingerprint(s.port), oldFp);
  assert.deepEqual(await decisions(s.port, 'registry.third/app:1', 2), [true, true]);

  // 6. The certificate Secret is rotated: new connections get the new certificate.
  tree.rotateCertificate();
  const newFp = new X509Certificate(readFileSync(tree.cert)).fingerprint256;
  assert.notEqual(newFp, oldFp);
  await waitFor(
    'both workers serve the new certificate',
    async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 8; i++) seen.add(await servedFingerprint(s.port));
      return seen.size === 1 && seen.has(newFp) ? true : undefined;
    },
    90_000,
  );
  text = await s.metrics();
  assert.equal(sample(text, 'tollgate_reloads_total{result="ok",what="certs"}'), 1);
  assert.deepEqual(await decisions(s.port, 'registry.third/app:1'), Array(6).fill(true));

  // 7. SIGHUP re-reads everything at once: the policy set is unchanged, the certificate is sent again.
  process.kill(s.proc.pid as number, 'SIGHUP');
  await waitFor(
    'the SIGHUP certificate reload',
    async () =>
      sample(await s.metrics(), 'tollgate_reloads_total{result="ok",what="certs"}') === 2 ? true : undefined,
    90_000,
  );
  text = await s.metrics();
  assert.equal(
    sample(text, RELOAD_OK),
    2,
    `an unchanged policy set is not sent again: ${JSON.stringify(s.logs.filter((l) => l.msg === 'policy set reloaded'))}`,
  );
  assert.equal(sample(text, 'tollgate_workers_ready'), 2);
}

test('a reload accepted while a worker is (re)starting reaches that worker too', async () => {
  const tree = makeTree('registry.good');
  cleanups.push(() => tree.remove());
  const s = await serve(tree, { workers: 2 });
  cleanups.push(() => s.kill());
  try {
    const victim = s.workerPids().get(0) as number;
    process.kill(victim, 'SIGKILL');
    await waitFor('the crash noticed', () =>
      s.logs.some((l) => l.msg === 'worker exited unexpectedly: respawning') ? true : undefined,
    );
    // The respawned worker is forked in 250 ms and needs seconds to start; the new set is accepted meanwhile.
    tree.swapBindings(bindingYaml('registry.other'));
    await waitFor(
      'slot 0 respawned',
      () => {
        const pid = s.workerPids().get(0);
        return pid !== undefined && pid !== victim ? pid : undefined;
      },
      90_000,
    );
    await waitFor(
      'generation 2 accepted',
      () => (s.logs.some((l) => l.msg === 'policy set reloaded') ? true : undefined),
      90_000,
    );
    // Whichever came first (init with generation 1 then a reload, or init with generation 2), every worker
    // ends up on generation 2: fresh connections land on both workers and all see the new binding.
    await waitFor(
      'every worker on the new set',
      async () => {
        const ds = await decisions(s.port, 'registry.good/app:1', 8);
        return ds.every((d) => d === false) ? true : undefined;
      },
      90_000,
    );
    assert.deepEqual(await decisions(s.port, 'registry.other/app:1', 8), Array(8).fill(true));
  } catch (e) {
    process.stderr.write(`# serve logs:\n${s.tail()}\n`);
    throw e;
  }
});
