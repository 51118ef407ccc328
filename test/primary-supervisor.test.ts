// The primary with real processes: a killed worker is respawned while the others keep answering, and
// SIGTERM drains in-flight requests before everything exits 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { type AddressInfo, createServer } from 'node:net';
import { after, test } from 'node:test';
import {
  isAlive,
  makeTree,
  post,
  ROOT,
  review,
  type Served,
  sample,
  serve,
  serveArgs,
  startLoad,
  type Tree,
  waitFor,
} from './helpers/serve-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function setup(): Tree {
  const tree = makeTree('registry.good');
  cleanups.push(() => tree.remove());
  return tree;
}

async function start(tree: Tree, opts: Parameters<typeof serve>[1] = {}): Promise<Served> {
  const s = await serve(tree, opts);
  cleanups.push(() => s.kill());
  return s;
}

test('a worker killed with SIGKILL is respawned while the other keeps serving', async () => {
  const tree = setup();
  const s = await start(tree, { workers: 2 });
  const before = s.workerPids();
  assert.equal(before.size, 2);
  const victim = before.get(0) as number;
  const survivor = before.get(1) as number;

  const load = startLoad(s.port, review('registry.good/app:1'), 4);
  try {
    await waitFor('some answers', () => (load.stats.ok >= 20 ? true : undefined), 30_000);
    const totalBefore = sample(
      await s.metrics(),
      'tollgate_requests_total{endpoint="validate",operation="CREATE",kind="Pod",decision="allowed"}',
    );
    assert.ok(totalBefore !== undefined && totalBefore > 0, 'requests are counted before the crash');

    process.kill(victim, 'SIGKILL');
    await waitFor('the primary noticed the crash', () =>
      s.logs.some((l) => l.msg === 'worker exited unexpectedly: respawning' && l.workerPid === victim)
        ? true
        : undefined,
    );
    const okAtCrash = load.stats.ok;
    // While slot 0 is down (backoff, then a cold start), the survivor answers.
    await waitFor(
      'answers while the slot is down',
      () => (load.stats.ok >= okAtCrash + 20 ? true : undefined),
      30_000,
    );
    await waitFor('slot 0 respawned', () => {
      const pid = s.workerPids().get(0);
      return pid !== undefined && pid !== victim ? pid : undefined;
    });
    assert.ok(!isAlive(victim));
    assert.ok(isAlive(survivor), 'the other worker was not touched');
    assert.equal(s.workerPids().get(1), survivor);

    const text = await s.metrics();
    assert.equal(sample(text, 'tollgate_worker_restarts_total{reason="crash"}'), 1);
    assert.equal(sample(text, 'tollgate_workers_ready'), 2);
    const totalAfter = sample(
      text,
      'tollgate_requests_total{endpoint="validate",operation="CREATE",kind="Pod",decision="allowed"}',
    );
    assert.ok(
      totalAfter !== undefined && totalAfter >= totalBefore,
      `the counter did not go down when a worker died (${totalBefore} -> ${totalAfter})`,
    );
    const crash = s.logs.find((l) => l.msg === 'worker exited unexpectedly: respawning');
    assert.equal(crash?.signal, 'SIGKILL');
    assert.equal(crash?.respawnInMs, 250, 'the first respawn waits the base backoff');

    // The respawned worker dies again before it has been stable: the backoff doubles.
    const second = s.workerPids().get(0) as number;
    process.kill(second, 'SIGKILL');
    const again = await waitFor('the second crash', () =>
      s.logs.find((l) => l.msg === 'worker exited unexpectedly: respawning' && l.workerPid === second),
    );
    assert.equal(again.respawnInMs, 500);
    assert.equal(again.crashes, 2);
    await waitFor('slot 0 respawned again', () => {
      const pid = s.workerPids().get(0);
      return pid !== undefined && pid !== second ? pid : undefined;
    });
    assert.equal(sample(await s.metrics(), 'tollgate_worker_restarts_total{reason="crash"}'), 2);
  } finally {
    const stats = await load.stop();
    // Only requests already on the killed worker's connections can be lost (one per connection at most).
    assert.ok(
      stats.failed <= 8,
      `at most the in-flight requests of the killed workers fail: ${stats.errors.join('; ')}`,
    );
    assert.ok(stats.ok > 40);
  }
  // A new connection lands on either worker and is answered.
  for (let i = 0; i < 6; i++) {
    const a = await post(s.port, review('registry.good/app:1'));
    assert.equal(a.status, 200);
    assert.equal(a.allowed, true);
  }
});

test('SIGTERM: in-flight requests are answered, workers exit, the primary exits 0 within the grace period', async () => {
  const tree = setup();
  const s = await start(tree, { workers: 2, graceMs: 15_000 });
  const pids = [...s.workerPids().values()];
  assert.equal(pids.length, 2);

  // A request that takes 1.5 s in the policy; SIGTERM goes out as soon as it has been written.
  let sentAt = 0;
  const slow = new Promise<{ status: number; body: string; at: number }>((res, rej) => {
    const body = review('registry.bad/app:1', { busyMs: 1500 });
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: s.port,
        path: '/validate?timeout=10s',
        method: 'POST',
        rejectUnauthorized: false,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (r) => {
        let text = '';
        r.setEncoding('utf8').on('data', (c: string) => {
          text += c;
        });
        r.on('end', () => res({ status: r.statusCode ?? 0, body: text, at: Date.now() }));
      },
    );
    req.on('error', rej);
    req.on('finish', () => {
      sentAt = Date.now();
      process.kill(s.proc.pid as number, 'SIGTERM');
    });
    req.end(body);
  });

  const answer = await slow;
  assert.equal(answer.status, 200);
  assert.equal((JSON.parse(answer.body) as { response: { allowed: boolean } }).response.allowed, false);
  assert.ok(answer.at - sentAt >= 1000, 'the answer came after the policy ran, i.e. after SIGTERM');

  const code = await Promise.race([
    s.exited,
    new Promise((r) => setTimeout(() => r('still running'), 15_000)),
  ]);
  assert.equal(code, 0, `primary exit: ${code}; stderr: ${s.stderr().slice(-1000)}`);
  assert.ok(Date.now() - sentAt < 15_000, 'exited within the grace period');
  for (const pid of pids) await waitFor(`worker ${pid} gone`, () => (isAlive(pid) ? undefined : true), 5_000);
  assert.ok(s.logs.some((l) => l.msg === 'tollgate stopped'));
  assert.ok(!s.logs.some((l) => l.msg?.includes('killed')), 'no worker needed to be killed');
  // Nothing listens any more.
  await assert.rejects(post(s.port, review('registry.good/app:1')));
});

test('SIGTERM with a request that outlasts the grace period: everything is gone soon after it, exit 0', async () => {
  const tree = setup();
  const s = await start(tree, { workers: 1, graceMs: 2_000 });
  const pids = [...s.workerPids().values()];
  const body = review('registry.good/app:1', { busyMs: 20_000 });
  let termAt = 0;
  const outcome = new Promise<string>((res) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: s.port,
        path: '/validate?timeout=30s',
        method: 'POST',
        rejectUnauthorized: false,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (r) => {
        r.resume();
        r.on('end', () => res(`answered ${r.statusCode}`));
      },
    );
    req.on('error', (e) => res(`error ${e.message}`));
    req.on('finish', () => {
      termAt = Date.now();
      process.kill(s.proc.pid as number, 'SIGTERM');
    });
    req.end(body);
  });
  const code = await s.exited;
  const took = Date.now() - termAt;
  assert.equal(code, 0, s.tail());
  assert.ok(took < 8_000, `stopped ${took} ms after SIGTERM with a 2 s grace period`);
  for (const pid of pids) await waitFor(`worker ${pid} gone`, () => (isAlive(pid) ? undefined : true), 5_000);
  // The 20 s evaluation was cut short: the client got an error or a failure answer, not an allow.
  assert.notEqual(await outcome, 'answered 200');
});

test('a worker that cannot listen fails the start: exit 2 with the error code, nothing respawned or left', async () => {
  const tree = setup();
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => taken.close(() => r())));
  const port = (taken.address() as AddressInfo).port;
  const proc = spawn(process.execPath, serveArgs(tree, port, 2, ['--metrics-port', '0']), {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  cleanups.push(() => {
    try {
      process.kill(-(proc.pid as number), 'SIGKILL');
    } catch {
      // gone
    }
  });
  let out = '';
  proc.stdout?.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  proc.stderr?.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  assert.equal(code, 2, out.slice(-2000));
  assert.match(
    out,
    /tollgate serve: a worker failed to start: cannot listen on 127\.0\.0\.1:\d+.*\[TOLLGATE_ERR_LISTEN\]/,
  );
  assert.doesNotMatch(out, /respawning/);
  const forked = [...out.matchAll(/"role":"worker".*?"pid":(\d+)|"pid":(\d+),"role":"worker"/g)].map((m) =>
    Number(m[1] ?? m[2]),
  );
  for (const pid of forked) assert.ok(!isAlive(pid), `worker ${pid} is gone`);
});
