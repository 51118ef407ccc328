// Rolling restart (SIGUSR2 to the primary) under keep-alive load: every worker is replaced and not one
// written request goes unanswered.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isAlive, makeTree, review, sample, serve, startLoad, waitFor } from './helpers/serve-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const ALLOWED =
  'tollgate_requests_total{endpoint="validate",operation="CREATE",kind="Pod",decision="allowed"}';

test('SIGUSR2 replaces the workers one at a time with zero failed requests', async () => {
  const tree = makeTree('registry.good');
  cleanups.push(() => tree.remove());
  // --drain-linger: a draining worker keeps answering (with Connection: close) on the keep-alive
  // connections it already has until they have been quiet for 1 s, so none is cut with a request on it.
  const s = await serve(tree, { workers: 2, extra: ['--drain-linger', '1s'] });
  cleanups.push(() => s.kill());
  const before = new Map(s.workerPids());
  assert.equal(before.size, 2);

  const load = startLoad(s.port, review('registry.good/app:1'), 4);
  let stats: Awaited<ReturnType<typeof load.stop>>;
  try {
    await waitFor('load running', () => (load.stats.ok >= 20 ? true : undefined), 30_000);
    const countedBefore = sample(await s.metrics(), ALLOWED) ?? 0;

    process.kill(s.proc.pid as number, 'SIGUSR2');
    await waitFor(
      'rolling restart done',
      () => (s.logs.some((l) => l.msg === 'rolling restart done') ? true : undefined),
      90_000,
    );
    const okAtDone = load.stats.ok;
    await waitFor(
      'answers after the restart',
      () => (load.stats.ok >= okAtDone + 20 ? true : undefined),
      30_000,
    );

    const after = s.workerPids();
    for (const [slot, pid] of before) {
      assert.notEqual(after.get(slot), pid, `slot ${slot} got a new worker`);
      await waitFor(`old worker ${pid} exited`, () => (isAlive(pid) ? undefined : true), 15_000);
    }
    const text = await s.metrics();
    assert.equal(sample(text, 'tollgate_worker_restarts_total{reason="rolling"}'), 2);
    assert.equal(sample(text, 'tollgate_workers_ready'), 2);
    const countedAfter = sample(text, ALLOWED) ?? 0;
    assert.ok(
      countedAfter >= countedBefore,
      `requests_total did not drop across the restart (${countedBefore} -> ${countedAfter})`,
    );
  } finally {
    stats = await load.stop();
  }
  // A 503 "the engine is shutting down" here means a draining worker closed its engine while keep-alive
  // connections accepted before the drain could still carry requests (see --drain-linger).
  assert.equal(stats.failed, 0, `failed requests: ${stats.errors.slice(0, 5).join('; ')}`);
  assert.ok(stats.ok > 60, `answers: ${stats.ok}`);
  process.stdout.write(
    `# rolling restart under load: ${stats.ok} answered, ${stats.failed} failed, ${stats.reconnects} reconnects\n`,
  );

  process.kill(s.proc.pid as number, 'SIGTERM');
  assert.equal(await s.exited, 0);
});
