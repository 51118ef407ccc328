/**
 * The pool engine on real piscina threads: the shared conformance suite, then what only a pool can get
 * wrong — stuck and exploding policies, overload, reload, and 1000 concurrent requests.
 * Policies are real: compiled from temporary rules directories written here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InlineEngine, loadSource } from '../src/engine/engine.js';
import { PoolEngine } from '../src/engine/pool.js';
import { registry } from '../src/metrics/index.js';
import { runEngineConformance } from './engine-conformance.case.js';
import {
  binding,
  type Fixture,
  fixture,
  podReview,
  responseOf,
  TAG_POLICY,
  TRAP_POLICY,
} from './helpers/pool-fixtures.js';

runEngineConformance('pool', (opts) => PoolEngine.create(opts, { threads: 2 }));

const TRAP_BINDINGS = [
  binding('no-latest', 'no-latest'),
  binding('trap-closed', 'trap', '  timeoutMs: 300\n  match:\n    namespaces: [default]\n'),
  binding(
    'trap-open',
    'trap',
    '  timeoutMs: 300\n  failurePolicy: allow\n  match:\n    namespaces: [open]\n',
  ),
  // A long timeout, so that the heap limit (not the deadline) stops an allocation bomb.
  binding('trap-heavy', 'trap', '  timeoutMs: 20000\n  match:\n    namespaces: [heavy]\n'),
].join('---\n');

/** Poll (with a deadline) until every thread has built its set and is idle, e.g. after replacements. */
async function allThreadsIdle(engine: PoolEngine, threads: number): Promise<void> {
  const until = performance.now() + 30_000;
  while (engine.stats().idleThreads < threads) {
    if (performance.now() > until) throw new Error(`threads not idle: ${JSON.stringify(engine.stats())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A pod review in namespace `ns` (bindings above match by namespace). */
/** Current value of a metric in the worker's registry (summed over the series matching `labels`). */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) throw new Error(`metric ${name} not registered`);
  const { values } = await m.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((sum, v) => sum + v.value, 0);
}

function reviewIn(ns: string, uid: string, labels: Record<string, string>, image?: string): Uint8Array {
  const text = new TextDecoder()
    .decode(podReview({ uid, labels, ...(image !== undefined ? { image } : {}) }))
    .replaceAll('"default"', JSON.stringify(ns));
  return new TextEncoder().encode(text);
}

describe('pool engine: misbehaving policies', () => {
  let f: Fixture;
  let engine: PoolEngine;

  before(async () => {
    f = fixture();
    f.policy('no-latest', TAG_POLICY);
    f.policy('trap', TRAP_POLICY);
    f.bindings(TRAP_BINDINGS);
    engine = await PoolEngine.create(f.load, { threads: 2, resourceLimits: { maxOldGenerationSizeMb: 48 } });
  });

  after(async () => {
    await engine?.close();
    f?.remove();
  });

  it('an endless loop is answered by the failure policy within its deadline; the others keep flowing', async () => {
    const t0 = performance.now();
    const stuck = engine.evaluate({
      body: podReview({ uid: 'loop-1', labels: { trap: 'loop' } }),
      endpoint: 'validate',
    });
    // Requests sent while one thread is stuck are answered by the other thread (or after the replacement).
    const others = Array.from({ length: 20 }, (_, i) =>
      engine.evaluate({
        body: podReview({ uid: `ok-${i}`, image: i % 2 ? 'x:latest' : 'x:1' }),
        endpoint: 'validate',
      }),
    );
    const r = await stuck;
    const elapsed = performance.now() - t0;
    assert.equal(r.status, 200);
    const resp = responseOf(r.body);
    assert.equal(resp.uid, 'loop-1');
    assert.equal(resp.allowed, false);
    assert.equal(resp.status?.code, 403);
    assert.match(resp.status?.message ?? '', /\[trap-closed\] .*TOLLGATE_ERR_POLICY_TIMEOUT/);
    assert.equal(r.decision?.evaluations[0]?.outcome, 'timeout');
    assert.equal(r.decision?.evaluations[0]?.error?.code, 'TOLLGATE_ERR_POLICY_TIMEOUT');
    assert.ok(elapsed >= 290 && elapsed < 2000, `answered after ${elapsed.toFixed(0)} ms (timeout 300 ms)`);
    const replies = await Promise.all(others);
    replies.forEach((x, i) => {
      assert.equal(x.status, 200);
      assert.equal(responseOf(x.body).uid, `ok-${i}`);
      assert.equal(responseOf(x.body).allowed, i % 2 === 0);
    });
    assert.ok(engine.stats().restarts.timeout >= 1);
    assert.ok((await metric('tollgate_pool_thread_restarts_total', { reason: 'timeout' })) >= 1);
  });

  it('failurePolicy allow admits a looping request with a warning', async () => {
    const r = await engine.evaluate({
      body: reviewIn('open', 'loop-open', { trap: 'loop' }),
      endpoint: 'validate',
    });
    const resp = responseOf(r.body);
    assert.equal(resp.uid, 'loop-open');
    assert.equal(resp.allowed, true);
    assert.match(
      resp.warnings?.[0] ?? '',
      /\[trap-open\] .*TOLLGATE_ERR_POLICY_TIMEOUT.*allowed by failurePolicy/,
    );
  });

  it('failurePolicy allow still denies when an earlier binding of the request denied', async () => {
    const body = reviewIn('open', 'loop-open-latest', { trap: 'loop' }, 'x:latest');
    const r = await engine.evaluate({ body, endpoint: 'validate' });
    const resp = responseOf(r.body);
    assert.equal(resp.allowed, false);
    assert.match(resp.status?.message ?? '', /earlier binding denied/);
  });

  it("the request's own deadline bounds a binding's timeout", async () => {
    await allThreadsIdle(engine, 2);
    const t0 = performance.now();
    const r = await engine.evaluate({
      body: podReview({ uid: 'loop-short', labels: { trap: 'loop' } }),
      endpoint: 'validate',
      timeoutMs: 120,
    });
    const elapsed = performance.now() - t0;
    assert.equal(responseOf(r.body).allowed, false);
    assert.ok(elapsed < 290, `answered after ${elapsed.toFixed(0)} ms, before the binding's 300 ms`);
  });

  it('a policy looping after an await is stopped at the request deadline', async () => {
    await allThreadsIdle(engine, 2);
    const t0 = performance.now();
    const r = await engine.evaluate({
      body: podReview({ uid: 'async-loop', labels: { trap: 'async-loop' } }),
      endpoint: 'validate',
      timeoutMs: 250,
    });
    const elapsed = performance.now() - t0;
    const resp = responseOf(r.body);
    assert.equal(resp.allowed, false);
    assert.match(
      resp.status?.message ?? '',
      /\[trap-closed\] .*TOLLGATE_ERR_POLICY_TIMEOUT.*request's deadline/,
    );
    assert.ok(elapsed < 1500, `answered after ${elapsed.toFixed(0)} ms`);
  });

  it('an async policy stopped by the watchdog is decided by its own failure policy, as by the thread', async () => {
    // The policy's promise is still pending when the thread is stopped: that pending result is the
    // stopped binding's own, not an earlier denial, so failurePolicy allow admits (the thread's own timer,
    // when it wins the race, decides the same way).
    await allThreadsIdle(engine, 2);
    const r = await engine.evaluate({
      body: reviewIn('open', 'async-loop-open', { trap: 'async-loop' }),
      endpoint: 'validate',
      timeoutMs: 250,
    });
    const resp = responseOf(r.body);
    assert.equal(resp.uid, 'async-loop-open');
    assert.equal(resp.allowed, true, JSON.stringify(resp));
    assert.match(
      resp.warnings?.[0] ?? '',
      /\[trap-open\] .*TOLLGATE_ERR_POLICY_TIMEOUT.*allowed by failurePolicy/,
    );
    // With an earlier denial in the same request, it still fails closed.
    const latest = await engine.evaluate({
      body: reviewIn('open', 'async-loop-latest', { trap: 'async-loop' }, 'x:latest'),
      endpoint: 'validate',
      timeoutMs: 250,
    });
    assert.equal(responseOf(latest.body).allowed, false);
    assert.match(responseOf(latest.body).status?.message ?? '', /earlier binding denied/);
  });

  it('an allocation bomb kills its thread, not the process; the request gets the failure policy', async () => {
    const before = engine.stats().restarts.heap;
    const r = await engine.evaluate({
      body: reviewIn('heavy', 'bomb-1', { trap: 'bomb' }),
      endpoint: 'validate',
    });
    const resp = responseOf(r.body);
    assert.equal(resp.uid, 'bomb-1');
    assert.equal(resp.allowed, false);
    assert.match(resp.status?.message ?? '', /\[trap-heavy\] .*TOLLGATE_ERR_POLICY_CRASHED/);
    assert.equal(engine.stats().restarts.heap, before + 1);
    assert.ok((await metric('tollgate_pool_thread_restarts_total', { reason: 'heap' })) >= 1);
    const next = await engine.evaluate({ body: podReview({ uid: 'after-bomb' }), endpoint: 'validate' });
    assert.equal(responseOf(next.body).allowed, true);
  });

  it('a throwing policy is decided by its failure policy, like inline', async () => {
    const r = await engine.evaluate({
      body: podReview({ uid: 'throw-1', labels: { trap: 'throw' } }),
      endpoint: 'validate',
    });
    const resp = responseOf(r.body);
    assert.equal(resp.allowed, false);
    assert.match(resp.status?.message ?? '', /TOLLGATE_ERR_POLICY_THREW.*trap sprung/);
    const open = await engine.evaluate({
      body: reviewIn('open', 'throw-open', { trap: 'throw' }),
      endpoint: 'validate',
    });
    assert.equal(responseOf(open.body).allowed, true);
  });

  it('answers equal the inline engine for the same requests', async () => {
    const inline = await InlineEngine.create(f.load);
    try {
      const bodies = [
        podReview({ uid: 'eq-1' }),
        podReview({ uid: 'eq-2', image: 'nginx:latest' }),
        podReview({ uid: 'eq-3', apiVersion: 'admission.k8s.io/v1beta1', image: 'a:latest' }),
        podReview({ uid: 'eq-4', labels: { trap: 'throw' } }),
        new TextEncoder().encode('{"not":"a review"}'),
        new TextEncoder().encode('{'),
      ];
      for (const endpoint of ['validate', 'mutate'] as const) {
        for (const body of bodies) {
          const [a, b] = await Promise.all([
            inline.evaluate({ body, endpoint }),
            engine.evaluate({ body, endpoint }),
          ]);
          assert.equal(b.status, a.status);
          assert.equal(b.body, a.body);
          assert.equal(b.error?.code, a.error?.code);
        }
      }
    } finally {
      await inline.close();
    }
  });
});

describe('pool engine: overload, reload, concurrency', () => {
  let f: Fixture;

  before(() => {
    f = fixture();
    f.policy('no-latest', TAG_POLICY);
    f.policy('trap', TRAP_POLICY);
    f.bindings(TRAP_BINDINGS);
  });

  after(() => f?.remove());

  it('beyond maxQueue requests are answered at once with 503, no Retry-After', async () => {
    const engine = await PoolEngine.create(f.load, { threads: 1, maxQueue: 8 });
    try {
      const settled: string[] = [];
      const replies = Array.from({ length: 40 }, (_, i) =>
        engine.evaluate({ body: podReview({ uid: `q-${i}` }), endpoint: 'validate' }).then((r) => {
          settled.push(`q-${i}`);
          return r;
        }),
      );
      const all = await Promise.all(replies);
      const refused = all.filter((r) => r.status === 503);
      assert.equal(refused.length, 32);
      for (const r of refused) {
        assert.equal(r.error?.code, 'TOLLGATE_ERR_POOL_OVERLOADED');
        assert.equal((JSON.parse(r.body) as { kind: string; code: number }).code, 503);
      }
      // Refusals are answered before any accepted request (they never waited for a thread).
      assert.deepEqual(
        settled.slice(0, 32),
        Array.from({ length: 32 }, (_, i) => `q-${i + 8}`),
      );
      assert.equal(engine.stats().rejected, 32);
      assert.ok((await metric('tollgate_pool_rejected_total')) >= 32);
    } finally {
      await engine.close();
    }
  });

  it('reload switches to a good set and refuses a broken one while the old keeps serving', async () => {
    const engine = await PoolEngine.create(f.load, { threads: 2 });
    try {
      const latest = () =>
        engine.evaluate({ body: podReview({ uid: 'r', image: 'x:latest' }), endpoint: 'validate' });
      assert.equal(responseOf((await latest()).body).allowed, false);
      // A new set where :latest is fine but a label is required.
      f.policy(
        'no-latest',
        `import { definePolicy } from 'tollgate/sdk';
export default definePolicy({ name: 'no-latest', validate: (ctx) => (ctx.object?.metadata?.labels?.team ? [] : ['team label required']) });`,
      );
      const inflight = Array.from({ length: 50 }, (_, i) =>
        engine.evaluate({ body: podReview({ uid: `mid-${i}`, image: 'x:latest' }), endpoint: 'validate' }),
      );
      await engine.reload(await loadSource(f.load));
      // In-flight requests were answered by exactly one of the two sets: same message as one of them.
      for (const r of await Promise.all(inflight)) {
        const m = responseOf(r.body).status?.message ?? '';
        assert.ok(m === '[no-latest] x:latest uses :latest' || m === '[no-latest] team label required', m);
      }
      const after = await latest();
      assert.equal(responseOf(after.body).status?.message, '[no-latest] team label required');
      assert.equal(engine.stats().threads, 2);

      // Broken: unknown policy in a binding; reload rejects with the load error's code.
      f.bindings(`${TRAP_BINDINGS}---\n${binding('ghost', 'does-not-exist')}`);
      await assert.rejects(engine.reload(await loadSource(f.load)), {
        code: 'TOLLGATE_ERR_BINDING_UNKNOWN_POLICY',
      });
      // A policy that throws at import time.
      f.bindings(TRAP_BINDINGS);
      f.policy('trap', "throw new Error('broken at load');\nexport default {};\n");
      await assert.rejects(engine.reload(await loadSource(f.load)), { code: 'TOLLGATE_ERR_POLICY_COMPILE' });
      const still = await latest();
      assert.equal(responseOf(still.body).status?.message, '[no-latest] team label required');
    } finally {
      f.policy('no-latest', TAG_POLICY);
      f.policy('trap', TRAP_POLICY);
      f.bindings(TRAP_BINDINGS);
      await engine.close();
    }
  });

  it('reload while a thread of the old set is stuck: the old pool drains once the watchdog stops it', async () => {
    const engine = await PoolEngine.create(f.load, { threads: 1 });
    try {
      const stuck = engine.evaluate({
        body: podReview({ uid: 'drain-loop', labels: { trap: 'loop' } }),
        endpoint: 'validate',
      });
      const until = performance.now() + 30_000;
      while (engine.stats().inFlight === 0 && performance.now() < until)
        await new Promise((r) => setTimeout(r, 10));
      await engine.reload(await loadSource(f.load));
      const resp = responseOf((await stuck).body);
      assert.equal(resp.allowed, false);
      assert.match(resp.status?.message ?? '', /\[trap-closed\] .*TOLLGATE_ERR_POLICY_TIMEOUT/);
      const next = await engine.evaluate({ body: podReview({ uid: 'after-drain' }), endpoint: 'validate' });
      assert.equal(responseOf(next.body).allowed, true);
      assert.equal(engine.stats().threads, 1);
    } finally {
      await engine.close();
    }
  });

  it('close() answers queued requests at once and still stops a stuck thread', async () => {
    const engine = await PoolEngine.create(f.load, { threads: 1 });
    const stuck = engine.evaluate({
      body: podReview({ uid: 'close-loop', labels: { trap: 'loop' } }),
      endpoint: 'validate',
    });
    const until = performance.now() + 30_000;
    while (engine.stats().inFlight === 0 && performance.now() < until)
      await new Promise((r) => setTimeout(r, 10));
    const queued = engine.evaluate({ body: podReview({ uid: 'close-queued' }), endpoint: 'validate' });
    await engine.close();
    assert.equal((await queued).status, 503);
    assert.equal((await queued).error?.code, 'TOLLGATE_ERR_POOL_OVERLOADED');
    const resp = responseOf((await stuck).body);
    assert.equal(resp.allowed, false);
    assert.match(resp.status?.message ?? '', /TOLLGATE_ERR_POLICY_TIMEOUT/);
    assert.equal(
      (await engine.evaluate({ body: podReview({ uid: 'late' }), endpoint: 'validate' })).status,
      503,
    );
  });

  it('1000 concurrent requests: every reply carries its own uid and decision', async () => {
    const engine = await PoolEngine.create(await loadSource(f.load), { threads: 2, maxQueue: 2000 });
    try {
      const n = 1000;
      const replies = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          engine.evaluate({
            body: podReview({
              uid: `c-${i}`,
              image: i % 3 === 0 ? 'a:latest' : 'a:1',
              apiVersion: i % 2 ? 'admission.k8s.io/v1beta1' : 'admission.k8s.io/v1',
            }),
            endpoint: i % 5 === 0 ? 'mutate' : 'validate',
          }),
        ),
      );
      replies.forEach((r, i) => {
        assert.equal(r.status, 200);
        const body = JSON.parse(r.body) as {
          apiVersion: string;
          response: { uid: string; allowed: boolean };
        };
        assert.equal(body.response.uid, `c-${i}`);
        assert.equal(body.apiVersion, i % 2 ? 'admission.k8s.io/v1beta1' : 'admission.k8s.io/v1');
        assert.equal(body.response.allowed, i % 5 === 0 || i % 3 !== 0);
        assert.equal(r.decision?.uid, `c-${i}`);
      });
      assert.equal(engine.stats().queueDepth, 0);
    } finally {
      await engine.close();
    }
  });

  it('threadMetrics + notable decisions: only denials carry a decision; counts arrive once, by flushMetrics', async () => {
    const engine = await PoolEngine.create(f.load, { threads: 2, threadMetrics: true, decisions: 'notable' });
    const durationCount = async (): Promise<number> => {
      const { values } = await registry.getSingleMetric('tollgate_policy_duration_seconds')!.get();
      return values
        .filter(
          (v) =>
            (v as { metricName?: string }).metricName?.endsWith('_count') === true &&
            v.labels.binding === 'no-latest',
        )
        .reduce((sum, v) => sum + v.value, 0);
    };
    const counts = async () => ({
      allowed: await metric('tollgate_requests_total', { endpoint: 'validate', decision: 'allowed' }),
      denied: await metric('tollgate_requests_total', { endpoint: 'validate', decision: 'denied' }),
      denials: await metric('tollgate_policy_evaluations_total', { binding: 'no-latest', result: 'deny' }),
      durations: await durationCount(),
    });
    try {
      const before = await counts();
      const n = 60;
      const replies = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          engine.evaluate({
            body: podReview({ uid: `m-${i}`, image: i % 3 === 0 ? 'a:latest' : 'a:1' }),
            endpoint: 'validate',
          }),
        ),
      );
      replies.forEach((r, i) => {
        assert.equal(r.status, 200);
        if (i % 3 === 0) {
          assert.equal(r.decision?.uid, `m-${i}`);
          assert.equal(r.decision?.response.allowed, false);
        } else {
          assert.equal(r.decision, undefined, 'an allowed reply carries no decision');
          assert.equal((JSON.parse(r.body) as { response: { allowed: boolean } }).response.allowed, true);
        }
      });
      await engine.flushMetrics();
      const after = await counts();
      assert.deepEqual(
        {
          allowed: after.allowed - before.allowed,
          denied: after.denied - before.denied,
          denials: after.denials - before.denials,
          durations: after.durations - before.durations,
        },
        { allowed: 40, denied: 20, denials: 20, durations: 60 },
      );
      // A second flush (and the threads' own timer) sends nothing twice.
      await new Promise((r) => setTimeout(r, 300));
      await engine.flushMetrics();
      assert.deepEqual(await counts(), after);
    } finally {
      await engine.close();
    }
  });
});

describe('pool engine: decisions that cross back', () => {
  let f: Fixture;

  before(() => {
    f = fixture();
    f.policy(
      'label-it',
      `import { definePolicy } from 'tollgate/sdk';
export default definePolicy({
  name: 'label-it',
  mutate(ctx) {
    const o = ctx.object;
    if (o === null) return undefined;
    return { ...o, metadata: { ...o.metadata, labels: { ...(o.metadata?.labels ?? {}), seen: 'yes' } } };
  },
  validate(ctx) {
    return ctx.containers().filter((c) => c.image.endsWith(':latest')).map((c) => ({ message: c.image + ' uses :latest' }));
  },
});
`,
    );
    f.bindings(binding('label-it', 'label-it'));
  });

  after(() => f?.remove());

  /** A decision with evaluation times zeroed (they differ from run to run). */
  const timeless = (d: unknown): unknown =>
    JSON.parse(JSON.stringify(d), (k, v) => (k === 'durationNs' ? 0 : v));

  it('a mutation travels without `patched` and `response.patch`, the rest as inline decides it', async () => {
    const pool = await PoolEngine.create(f.load, { threads: 1, decisions: 'all' });
    const inline = await InlineEngine.create(f.load);
    try {
      for (const [endpoint, image] of [
        ['mutate', 'a:1'],
        ['validate', 'a:latest'],
        ['validate', 'a:1'],
      ] as const) {
        const body = podReview({ uid: `d-${endpoint}-${image}`, image });
        const [p, i] = [await pool.evaluate({ body, endpoint }), await inline.evaluate({ body, endpoint })];
        assert.equal(p.status, 200);
        assert.equal(p.body, i.body, 'the same answer');
        const d = p.decision;
        assert.ok(d !== undefined && i.decision !== undefined);
        assert.ok(!('patched' in d), 'no patched object');
        assert.ok(!('patch' in d.response), 'no patch in the decision (the body has it)');
        const { patched: _, ...expected } = i.decision;
        const { patch, ...response } = i.decision.response;
        assert.equal(patch !== undefined, endpoint === 'mutate');
        if (endpoint === 'mutate') assert.equal(d.response.patchType, 'JSONPatch');
        assert.deepEqual(timeless(d), timeless({ ...expected, response }));
      }
    } finally {
      await pool.close();
      await inline.close();
    }
  });
});
