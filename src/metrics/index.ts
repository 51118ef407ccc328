/**
 * Every metric Tollgate exports, declared in one place. Workers record into prom-client's global
 * registry; the primary merges all workers with AggregatorRegistry (src/primary). Request and policy
 * counts made on pool threads are aggregated there and arrive as deltas (MetricsDelta, recorded by
 * recordThreadMetrics); the request duration is measured by the worker. Histograms only (they add up
 * across processes); label sets are bounded (binding names come from config, not from requests).
 */
import client from 'prom-client';
import type { Decision } from '../engine/types.js';
import { DURATION_BUCKETS, type MetricsDelta } from '../ipc/thread-messages.js';

export { DURATION_BUCKETS };

const PREFIX = 'tollgate_';

export const registry = client.register;

/**
 * A histogram with one label that also takes bucket counts made elsewhere (pool threads), which
 * prom-client's Histogram cannot, and observes without hashing a label object. It exposes exactly what a prom-client Histogram would: `_bucket` with
 * cumulative counts per `le` (and +Inf), `_sum`, `_count`, and merges across workers the same way.
 */
class BucketHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private series = new Map<string, { counts: Float64Array; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    private readonly bounds: readonly number[],
  ) {
    registry.registerMetric(this as unknown as client.Metric);
  }

  private at(value: string): { counts: Float64Array; sum: number; count: number } {
    let s = this.series.get(value);
    if (s === undefined) {
      s = { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(value, s);
    }
    return s;
  }

  observe(labels: Readonly<Record<string, string>>, seconds: number): void {
    const s = this.at(labels[this.label] ?? '');
    let b = 0;
    while (b < this.bounds.length && seconds > this.bounds[b]!) b++;
    s.counts[b]!++;
    s.sum += seconds;
    s.count++;
  }

  /** Add bucket counts (not cumulative; one more than the bounds, the last for +Inf) and their sum. */
  add(value: string, counts: ArrayLike<number>, sum: number): void {
    const s = this.at(value);
    let n = 0;
    for (let b = 0; b < s.counts.length; b++) {
      const c = counts[b] ?? 0;
      s.counts[b]! += c;
      n += c;
    }
    s.sum += sum;
    s.count += n;
  }

  reset(): void {
    this.series.clear();
  }

  get(): Promise<{
    name: string;
    help: string;
    type: client.MetricType;
    values: client.MetricValueWithName<string>[];
    aggregator: client.Aggregator;
  }> {
    const values: client.MetricValueWithName<string>[] = [];
    for (const [value, s] of this.series) {
      let acc = 0;
      for (let b = 0; b < this.bounds.length; b++) {
        acc += s.counts[b]!;
        values.push({
          labels: { le: this.bounds[b]!, [this.label]: value },
          value: acc,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push(
        { labels: { le: '+Inf', [this.label]: value }, value: s.count, metricName: `${this.name}_bucket` },
        { labels: { [this.label]: value }, value: s.sum, metricName: `${this.name}_sum` },
        { labels: { [this.label]: value }, value: s.count, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: 'histogram' as unknown as client.MetricType,
      values,
      aggregator: 'sum',
    });
  }
}

export const requests = new client.Counter({
  name: `${PREFIX}requests_total`,
  help: 'Admission requests answered, by endpoint, operation, kind and decision (allowed, denied, error).',
  labelNames: ['endpoint', 'operation', 'kind', 'decision'] as const,
});

/** A BucketHistogram: observed once per request, where prom-client's label hashing showed in profiles. */
export const requestDuration = new BucketHistogram(
  `${PREFIX}request_duration_seconds`,
  'Time from the last body byte to the response, by endpoint.',
  'endpoint',
  DURATION_BUCKETS,
);

export const policyEvaluations = new client.Counter({
  name: `${PREFIX}policy_evaluations_total`,
  help: 'Binding evaluations by binding, policy and result (allow, deny, warn, dryrun, mutated, error, timeout).',
  labelNames: ['binding', 'policy', 'result'] as const,
});

export const policyDuration = new BucketHistogram(
  `${PREFIX}policy_duration_seconds`,
  'Time spent in one binding evaluation, by binding.',
  'binding',
  DURATION_BUCKETS,
);

export const policyErrors = new client.Counter({
  name: `${PREFIX}policy_errors_total`,
  help: 'Policy failures (threw, bad result) by binding and error code.',
  labelNames: ['binding', 'code'] as const,
});

export const policyTimeouts = new client.Counter({
  name: `${PREFIX}policy_timeouts_total`,
  help: 'Policy evaluations stopped at their deadline, by binding.',
  labelNames: ['binding'] as const,
});

export const poolQueueDepth = new client.Gauge({
  name: `${PREFIX}pool_queue_depth`,
  help: 'Evaluations waiting for a pool thread in this worker.',
});

export const poolUtilization = new client.Gauge({
  name: `${PREFIX}pool_utilization_ratio`,
  help: 'Share of pool thread time spent evaluating (0..1) in this worker.',
});

export const poolRejected = new client.Counter({
  name: `${PREFIX}pool_rejected_total`,
  help: 'Requests answered at once by failure policy because the pool queue was full.',
});

export const threadRestarts = new client.Counter({
  name: `${PREFIX}pool_thread_restarts_total`,
  help: 'Pool threads terminated and replaced, by reason (timeout, heap, crash).',
  labelNames: ['reason'] as const,
});

export const reloads = new client.Counter({
  name: `${PREFIX}reloads_total`,
  help: 'Policy set (and certificate) reloads by result (ok, failed).',
  labelNames: ['result', 'what'] as const,
});

export const policiesLoaded = new client.Gauge({
  name: `${PREFIX}bindings_loaded`,
  help: 'Bindings in the active policy set.',
});

export const buildInfo = new client.Gauge({
  name: `${PREFIX}build_info`,
  help: 'Always 1; labels carry the version and Node.js version.',
  labelNames: ['version', 'node'] as const,
});

/** Set by the primary (src/primary): workers that finished starting and serve the port. */
export const workersReady = new client.Gauge({
  name: `${PREFIX}workers_ready`,
  help: 'Worker processes that are listening and serving (primary).',
});

export const workerRestarts = new client.Counter({
  name: `${PREFIX}worker_restarts_total`,
  help: 'Worker processes started to replace another, by reason (crash, rolling, reload-failed, cert-reload).',
  labelNames: ['reason'] as const,
});

export function collectProcessMetrics(): void {
  client.collectDefaultMetrics({ prefix: PREFIX });
}

/** Record one answered request and every binding evaluation it carried. */
export function recordRequest(
  endpoint: string,
  status: number,
  decision: Decision | undefined,
  seconds: number,
): void {
  countEvaluation(endpoint, status, decision);
  requestDuration.observe({ endpoint }, seconds);
}

/** Record only the request duration (the rest was counted where it was evaluated: countEvaluation). */
export function recordDuration(endpoint: string, seconds: number): void {
  requestDuration.observe({ endpoint }, seconds);
}

/** Count one request (tollgate_requests_total) and its binding evaluations; not its duration. */
export function countEvaluation(endpoint: string, status: number, decision: Decision | undefined): void {
  const outcome = decision === undefined ? 'error' : decision.response.allowed ? 'allowed' : 'denied';
  requests.inc({
    endpoint,
    operation: decision?.operation ?? 'unknown',
    kind: decision?.kind ?? 'unknown',
    decision: status === 200 ? outcome : 'error',
  });
  if (decision === undefined) return;
  for (const e of decision.evaluations) {
    policyEvaluations.inc({ binding: e.binding, policy: e.policy, result: e.outcome });
    policyDuration.observe({ binding: e.binding }, e.durationNs / 1e9);
    if (e.outcome === 'timeout') policyTimeouts.inc({ binding: e.binding });
    else if (e.outcome === 'error' && e.error) policyErrors.inc({ binding: e.binding, code: e.error.code });
  }
}

/** Add the counts a pool thread made (MetricsDelta) to this process's metrics. */
export function recordThreadMetrics(d: MetricsDelta): void {
  for (const [key, n] of d.requests) {
    const [endpoint = '', operation = '', kind = '', decision = ''] = key.split('\0');
    requests.inc({ endpoint, operation, kind, decision }, n);
  }
  for (const [key, n] of d.evaluations) {
    const [binding = '', policy = '', result = ''] = key.split('\0');
    policyEvaluations.inc({ binding, policy, result }, n);
  }
  for (const [key, n] of d.errors) {
    const [binding = '', code = ''] = key.split('\0');
    policyErrors.inc({ binding, code }, n);
  }
  for (const [binding, n] of d.timeouts) policyTimeouts.inc({ binding }, n);
  for (const h of d.durations) policyDuration.add(h.binding, h.buckets, h.sum);
}
