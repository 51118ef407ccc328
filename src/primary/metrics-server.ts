/**
 * The primary's plain-HTTP `/metrics`: every worker's registry merged with prom-client's
 * AggregatorRegistry, plus the primary's own metrics.
 *
 * How series are merged (AggregatorRegistry sums equal label sets unless a metric says otherwise):
 * - Request, policy and pool counters and histograms are summed across workers: one series per label set,
 *   as if one process had served everything. A worker that exits leaves its last counts behind (its final
 *   snapshot, or the last one scraped), so totals never go down when a worker is replaced.
 * - Metrics that describe one process (the default `process_*`/`nodejs_*` metrics, the pool's queue depth
 *   and utilisation, bindings loaded) get a `worker` label: the worker's slot (0..workers-1), or `primary`. Slots are
 *   reused by respawned workers, so the label set stays bounded. A worker that is being replaced (rolling
 *   restart) shares its slot with its successor: its per-process series are left out, its counts are not.
 * - Reloads, workers ready, worker restarts and build info come from the primary only: it validates
 *   and distributes every policy set.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { MetricsSnapshot } from '../ipc/cluster-messages.js';
import type { Logger } from '../log/index.js';
import * as m from '../metrics/index.js';

type Metric = MetricsSnapshot[number];

/** Owned by the primary: the same names in a worker's snapshot are ignored. */
const PRIMARY_ONLY: ReadonlySet<string> = new Set(
  [m.reloads, m.buildInfo, m.workersReady, m.workerRestarts].map(metricName),
);

/**
 * Per-process gauges declared by Tollgate (the default process metrics are recognised by name).
 * bindings_loaded per worker shows that every worker applied the last reload.
 */
const PER_PROCESS: ReadonlySet<string> = new Set(
  [m.poolQueueDepth, m.poolUtilization, m.policiesLoaded].map(metricName),
);

const PROCESS_METRIC = /^(tollgate_)?(process|nodejs)_/;

function metricName(metric: unknown): string {
  return (metric as { name: string }).name;
}

export function isPerProcess(name: string): boolean {
  return PER_PROCESS.has(name) || PROCESS_METRIC.test(name);
}

/** A worker's contribution to one scrape. `slot` is undefined for a worker being replaced. */
export interface WorkerSnapshot {
  readonly slot: number | undefined;
  readonly metrics: MetricsSnapshot;
}

/** Copy a per-process metric with `worker` added to every series; one series per label set, so 'first'. */
function labelled(metric: Metric, worker: string): Metric {
  return {
    ...metric,
    aggregator: 'first',
    values: metric.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })),
  } as Metric;
}

const CUMULATIVE_TYPES: ReadonlySet<string> = new Set(['counter', 'histogram']);

/** Only what adds up across processes: counters and histograms that are not per-process. */
function cumulative(snapshot: MetricsSnapshot): MetricsSnapshot {
  // At run time `type` is prom-client's string ('counter'), whatever the typings' enum says.
  return snapshot.filter(
    (x) => CUMULATIVE_TYPES.has(String(x.type)) && !PRIMARY_ONLY.has(x.name) && !isPerProcess(x.name),
  );
}

/**
 * prom-client names three gauges `nodejs_active_{handles,requests,resources}_total`; `promtool check
 * metrics` rejects `_total` on anything but a counter, so those gauges are exported without the suffix.
 */
function conventionalNames(snapshot: MetricsSnapshot): MetricsSnapshot {
  return snapshot.map((x) => {
    if (String(x.type) === 'counter' || !x.name.endsWith('_total')) return x;
    const name = x.name.slice(0, -'_total'.length);
    return {
      ...x,
      name,
      values: x.values.map((v) => {
        const n = (v as { metricName?: string }).metricName;
        return n === x.name ? { ...v, metricName: name } : v;
      }),
    } as Metric;
  });
}

export class MetricsAggregator {
  /** Counts left behind by workers that have exited, merged into one snapshot. */
  private retired: MetricsSnapshot = [];

  constructor(
    private readonly primaryRegistry: Registry,
    private readonly collectWorkers: () => Promise<readonly WorkerSnapshot[]>,
  ) {}

  /** Retirements still being merged; a scrape waits for them so that it never sees a dip. */
  private merging: Promise<void> = Promise.resolve();

  /** Keep an exited worker's counts so that totals do not drop. */
  retire(last: MetricsSnapshot): Promise<void> {
    const keep = cumulative(last);
    if (keep.length === 0) return this.merging;
    this.merging = this.merging.then(async () => {
      this.retired = await AggregatorRegistry.aggregate([this.retired, keep]).getMetricsAsJSON();
    });
    return this.merging;
  }

  /** Every input of one scrape, labelled and filtered, before AggregatorRegistry merges them. */
  async parts(): Promise<MetricsSnapshot[]> {
    const workers = await this.collectWorkers();
    await this.merging;
    const own = (await this.primaryRegistry.getMetricsAsJSON()).flatMap((x): Metric[] => {
      if (PRIMARY_ONLY.has(x.name)) return [x];
      if (PROCESS_METRIC.test(x.name)) return [labelled(x, 'primary')];
      return []; // request and pool metrics are never recorded in the primary
    });
    const parts: MetricsSnapshot[] = [own, this.retired];
    for (const w of workers) {
      const slot = w.slot;
      parts.push(
        w.metrics.flatMap((x): Metric[] => {
          if (PRIMARY_ONLY.has(x.name)) return [];
          if (isPerProcess(x.name)) return slot === undefined ? [] : [labelled(x, String(slot))];
          return [x];
        }),
      );
    }
    return parts;
  }

  /** The Prometheus text exposition of everything. */
  async render(): Promise<string> {
    return AggregatorRegistry.aggregate((await this.parts()).map(conventionalNames)).metrics();
  }
}

export interface MetricsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly aggregator: MetricsAggregator;
  /** Whether at least one worker serves: `/healthz` answers 200 then, 503 otherwise. */
  readonly healthy: () => boolean;
  readonly log: Logger;
}

/** Plain HTTP in the primary: GET /metrics and GET /healthz. Resolves once listening. */
export function startMetricsServer(opts: MetricsServerOptions): Promise<Server> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      opts.aggregator.render().then(
        (text) => {
          res.writeHead(200, { 'content-type': AggregatorRegistry.PROMETHEUS_CONTENT_TYPE }).end(text);
        },
        (e: unknown) => {
          opts.log.error({ err: (e as Error).message }, 'metrics aggregation failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics aggregation failed\n');
        },
      );
      return;
    }
    if (path === '/healthz') {
      const ok = opts.healthy();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ok ? 'ok\n' : 'no worker is serving\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
  });
  // Scrapers keep connections open; they must not hold the primary's shutdown.
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
