import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import client from 'prom-client';
import type { MetricsSnapshot } from '../ipc/cluster-messages.js';
import { MetricsAggregator, startMetricsServer, type WorkerSnapshot } from './metrics-server.js';

/** A worker's registry as the worker would have it: the real metric names, its own counts. */
async function workerRegistry(allowed: number, queue: number): Promise<MetricsSnapshot> {
  const reg = new client.Registry();
  const requests = new client.Counter({
    name: 'tollgate_requests_total',
    help: 'h',
    labelNames: ['endpoint', 'decision'] as const,
    registers: [reg],
  });
  const duration = new client.Histogram({
    name: 'tollgate_request_duration_seconds',
    help: 'h',
    labelNames: ['endpoint'] as const,
    buckets: [0.01, 0.1],
    registers: [reg],
  });
  const depth = new client.Gauge({ name: 'tollgate_pool_queue_depth', help: 'h', registers: [reg] });
  const reloads = new client.Counter({
    name: 'tollgate_reloads_total',
    help: 'h',
    labelNames: ['result', 'what'] as const,
    registers: [reg],
  });
  client.collectDefaultMetrics({ register: reg, prefix: 'tollgate_' });
  requests.inc({ endpoint: 'validate', decision: 'allowed' }, allowed);
  for (let i = 0; i < allowed; i++) duration.observe({ endpoint: 'validate' }, 0.05);
  depth.set(queue);
  reloads.inc({ result: 'ok', what: 'policies' }, 99); // a worker's own count is ignored: the primary owns reloads
  return reg.getMetricsAsJSON();
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('counters and histograms add up, per-process series get a worker label, the primary owns reloads', async () => {
  const primary = new client.Registry();
  new client.Counter({
    name: 'tollgate_reloads_total',
    help: 'h',
    labelNames: ['result', 'what'] as const,
    registers: [primary],
  }).inc({ result: 'failed', what: 'policies' });
  client.collectDefaultMetrics({ register: primary, prefix: 'tollgate_' });
  const workers: WorkerSnapshot[] = [
    { slot: 0, metrics: await workerRegistry(3, 2) },
    { slot: 1, metrics: await workerRegistry(4, 5) },
  ];
  const agg = new MetricsAggregator(primary, async () => workers);
  const text = await agg.render();

  assert.equal(value(text, 'tollgate_requests_total{endpoint="validate",decision="allowed"}'), 7);
  assert.equal(value(text, 'tollgate_request_duration_seconds_count{endpoint="validate"}'), 7);
  assert.equal(value(text, 'tollgate_request_duration_seconds_bucket{le="0.1",endpoint="validate"}'), 7);
  assert.equal(value(text, 'tollgate_pool_queue_depth{worker="0"}'), 2);
  assert.equal(value(text, 'tollgate_pool_queue_depth{worker="1"}'), 5);
  assert.equal(value(text, 'tollgate_reloads_total{result="failed",what="policies"}'), 1);
  assert.equal(value(text, 'tollgate_reloads_total{result="ok",what="policies"}'), undefined);
  for (const w of ['primary', '0', '1']) {
    assert.ok(
      value(text, `tollgate_process_start_time_seconds{worker="${w}"}`) !== undefined,
      `start time of ${w}`,
    );
  }
  // prom-client's gauges named *_total lose the suffix (promtool rejects _total on non-counters).
  assert.match(text, /^tollgate_nodejs_active_handles\{/m);
  assert.doesNotMatch(text, /^tollgate_nodejs_active_handles_total/m);
});

test('an exited worker leaves its counts behind; a worker being replaced keeps counts but not its slot', async () => {
  const primary = new client.Registry();
  let workers: WorkerSnapshot[] = [
    { slot: 0, metrics: await workerRegistry(10, 1) },
    { slot: 1, metrics: await workerRegistry(5, 1) },
  ];
  const agg = new MetricsAggregator(primary, async () => workers);
  const series = 'tollgate_requests_total{endpoint="validate",decision="allowed"}';
  assert.equal(value(await agg.render(), series), 15);

  // Slot 0 is being replaced: the old worker (slot undefined) and its successor both answer.
  const successor = await workerRegistry(1, 7);
  workers = [
    { slot: undefined, metrics: workers[0]?.metrics ?? [] },
    { slot: 0, metrics: successor },
    workers[1] as WorkerSnapshot,
  ];
  let text = await agg.render();
  assert.equal(value(text, series), 16);
  assert.equal(
    value(text, 'tollgate_pool_queue_depth{worker="0"}'),
    7,
    'only the successor speaks for slot 0',
  );

  // The old worker exits: its last counts are retired, the total does not drop.
  await agg.retire((await workerRegistry(10, 1)) as MetricsSnapshot);
  workers = [{ slot: 0, metrics: successor }, workers[2] as WorkerSnapshot];
  text = await agg.render();
  assert.equal(value(text, series), 16);
  await agg.retire(await workerRegistry(2, 0));
  assert.equal(value(await agg.render(), series), 18);
});

test('the HTTP endpoint serves /metrics and /healthz', async () => {
  const primary = new client.Registry();
  new client.Gauge({ name: 'tollgate_workers_ready', help: 'h', registers: [primary] }).set(2);
  let healthy = false;
  const server = await startMetricsServer({
    host: '127.0.0.1',
    port: 0,
    aggregator: new MetricsAggregator(primary, async () => []),
    healthy: () => healthy,
    log: pino({ level: 'silent' }),
  });
  try {
    const addr = server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    const base = `http://127.0.0.1:${port}`;
    const m = await fetch(`${base}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(await m.text(), /^tollgate_workers_ready 2$/m);
    assert.equal((await fetch(`${base}/healthz`)).status, 503);
    healthy = true;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
