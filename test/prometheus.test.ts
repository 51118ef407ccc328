// The primary's /metrics as Prometheus sees it: `promtool check metrics` accepts the exposition, and a
// real Prometheus server scraping the primary finds tollgate_requests_total through its query API.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  freePort,
  httpGet,
  makeTree,
  post,
  review,
  sample,
  serve,
  waitFor,
} from './helpers/serve-process.js';

function which(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

const HAVE_PROMTOOL = which('promtool');
const HAVE_PROMETHEUS = which('prometheus');

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

let servedOnce: Awaited<ReturnType<typeof serve>> | undefined;
async function served(): Promise<Awaited<ReturnType<typeof serve>>> {
  if (servedOnce !== undefined) return servedOnce;
  const tree = makeTree('registry.good');
  cleanups.push(() => tree.remove());
  const s = await serve(tree, { workers: 2 });
  cleanups.push(() => s.kill());
  servedOnce = s;
  return s;
}

/** A few admission requests of each outcome, on fresh connections so both workers get some. */
async function traffic(port: number): Promise<void> {
  for (let i = 0; i < 8; i++) {
    assert.equal((await post(port, review('registry.good/app:1'))).allowed, true);
    assert.equal((await post(port, review('registry.bad/app:1'))).allowed, false);
  }
  assert.equal((await post(port, '{"not":"a review"}')).status, 400);
}

test('the aggregated exposition: every metric family, per-worker process metrics, promtool accepts it', async (t) => {
  const s = await served();
  await traffic(s.port);
  const text = await s.metrics();

  const allowed = sample(
    text,
    'tollgate_requests_total{endpoint="validate",operation="CREATE",kind="Pod",decision="allowed"}',
  );
  const denied = sample(
    text,
    'tollgate_requests_total{endpoint="validate",operation="CREATE",kind="Pod",decision="denied"}',
  );
  assert.equal(allowed, 8, 'summed across both workers');
  assert.equal(denied, 8);
  assert.equal(sample(text, 'tollgate_request_duration_seconds_count{endpoint="validate"}'), 17);
  assert.equal(
    sample(
      text,
      'tollgate_policy_evaluations_total{binding="only-registry",policy="only-registry",result="allow"}',
    ),
    8,
  );
  assert.equal(
    sample(
      text,
      'tollgate_policy_evaluations_total{binding="only-registry",policy="only-registry",result="deny"}',
    ),
    8,
  );
  assert.equal(sample(text, 'tollgate_policy_duration_seconds_count{binding="only-registry"}'), 16);
  for (const family of [
    'tollgate_policy_errors_total',
    'tollgate_policy_timeouts_total',
    'tollgate_pool_queue_depth',
    'tollgate_pool_utilization_ratio',
    'tollgate_reloads_total',
    'tollgate_build_info',
    'tollgate_workers_ready',
    'tollgate_worker_restarts_total',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${family} `, 'm'), `${family} is exported`);
  }
  assert.match(text, /^tollgate_build_info\{version="[^"]+",node="v20\.[^"]+"\} 1$/m);
  assert.equal(sample(text, 'tollgate_workers_ready'), 2);
  // Process metrics: one series per process, never summed.
  for (const worker of ['primary', '0', '1']) {
    assert.ok(
      (sample(text, `tollgate_process_cpu_seconds_total{worker="${worker}"}`) ?? 0) > 0,
      `cpu of ${worker}`,
    );
    assert.ok(
      (sample(text, `tollgate_process_start_time_seconds{worker="${worker}"}`) ?? 0) > 1.7e9,
      `start time of ${worker}`,
    );
    assert.ok((sample(text, `tollgate_process_resident_memory_bytes{worker="${worker}"}`) ?? 0) > 1e6);
  }
  assert.equal(sample(text, 'tollgate_bindings_loaded{worker="0"}'), 1);
  assert.doesNotMatch(
    text,
    /^tollgate_process_cpu_seconds_total \d/m,
    'no unlabelled (summed) process series',
  );
  assert.doesNotMatch(text, /_total\{[^}]*\} NaN/);

  if (!HAVE_PROMTOOL) {
    t.diagnostic('promtool not installed (Debian package prometheus): lint skipped');
    return;
  }
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
});

test('a real Prometheus scrapes the primary and answers tollgate_requests_total', {
  skip: HAVE_PROMETHEUS ? false : 'prometheus binary not installed (Debian package prometheus)',
}, async () => {
  const s = await served();
  await traffic(s.port);

  const dir = mkdtempSync(join(tmpdir(), 'tollgate-prom-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tollgate
    scrape_interval: 1s
    scrape_timeout: 900ms
    static_configs:
      - targets: ['127.0.0.1:${s.metricsPort}']
`,
  );
  const promPort = await freePort();
  const prom: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let promLog = '';
  prom.stderr?.setEncoding('utf8').on('data', (c: string) => {
    promLog += c;
  });
  const promExited = new Promise<void>((res) => prom.once('exit', () => res()));
  cleanups.push(async () => {
    if (prom.exitCode === null && prom.signalCode === null) {
      prom.kill('SIGTERM');
      await Promise.race([promExited, new Promise((r) => setTimeout(r, 5000))]);
      if (prom.exitCode === null && prom.signalCode === null) prom.kill('SIGKILL');
    }
  });

  const query = encodeURIComponent(
    'sum by (decision) (tollgate_requests_total{job="tollgate",endpoint="validate"})',
  );
  const result = await waitFor(
    'Prometheus to return tollgate_requests_total',
    async () => {
      if (prom.exitCode !== null) throw new Error(`prometheus exited: ${promLog.slice(-1000)}`);
      const body = JSON.parse(await httpGet(promPort, `/api/v1/query?query=${query}`)) as {
        status: string;
        data: { result: { metric: { decision?: string }; value: [number, string] }[] };
      };
      const byDecision = new Map(body.data.result.map((r) => [r.metric.decision, Number(r.value[1])]));
      return (byDecision.get('allowed') ?? 0) >= 8 && (byDecision.get('denied') ?? 0) >= 8
        ? byDecision
        : undefined;
    },
    60_000,
  );
  assert.ok((result.get('allowed') ?? 0) >= 8);

  // The scrape itself is healthy (up == 1) and per-worker series arrive with their worker label.
  const up = JSON.parse(
    await httpGet(promPort, `/api/v1/query?query=${encodeURIComponent('up{job="tollgate"}')}`),
  ) as {
    data: { result: { value: [number, string] }[] };
  };
  assert.equal(up.data.result[0]?.value[1], '1');
  const workers = JSON.parse(
    await httpGet(
      promPort,
      `/api/v1/query?query=${encodeURIComponent('count(tollgate_process_cpu_seconds_total{job="tollgate"})')}`,
    ),
  ) as { data: { result: { value: [number, string] }[] } };
  assert.equal(workers.data.result[0]?.value[1], '3', 'primary + 2 workers');

  prom.kill('SIGTERM');
  await promExited;
});
