/**
 * Every metric Tollgate exports, declared in one place. Workers record into prom-client's global
 * registry; the primary merges all workers with AggregatorRegistry (src/primary). Counts made on pool
 * threads travel back inside the Decision and are recorded here by the worker. Histograms only (they add
 * up across processes); label sets are bounded (binding names come from config, not from requests).
 */
import client from 'prom-client';
import type { Decision } from '../engine/types.js';

const PREFIX = 'tollgate_';
/** 100 µs to 10 s. */
export const DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export const registry = client.register;

export const requests = new client.Counter({
  name: `${PREFIX}requests_total`,
  help: 'Admission requests answered, by endpoint, operation, kind and decision (allowed, denied, error).',
  labelNames: ['endpoint', 'operation', 'kind', 'decision'] as const,
});

export const requestDuration = new client.Histogram({
  name: `${PREFIX}request_duration_seconds`,
  help: 'Time from the last body byte to the response, by endpoint.',
  labelNames: ['endpoint'] as const,
  buckets: DURATION_BUCKETS,
});

export const policyEvaluations = new client.Counter({
  name: `${PREFIX}policy_evaluations_total`,
  help: 'Binding evaluations by binding, policy and result (allow, deny, warn, dryrun, mutated, error, timeout).',
  labelNames: ['binding', 'policy', 'result'] as const,
});

export const policyDuration = new client.Histogram({
  name: `${PREFIX}policy_duration_seconds`,
  help: 'Time spent in one binding evaluation, by binding.',
  labelNames: ['binding'] as const,
  buckets: DURATION_BUCKETS,
});

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
  const outcome = decision === undefined ? 'error' : decision.response.allowed ? 'allowed' : 'denied';
  requests.inc({
    endpoint,
    operation: decision?.operation ?? 'unknown',
    kind: decision?.kind ?? 'unknown',
    decision: status === 200 ? outcome : 'error',
  });
  requestDuration.observe({ endpoint }, seconds);
  if (decision === undefined) return;
  for (const e of decision.evaluations) {
    policyEvaluations.inc({ binding: e.binding, policy: e.policy, result: e.outcome });
    policyDuration.observe({ binding: e.binding }, e.durationNs / 1e9);
    if (e.outcome === 'timeout') policyTimeouts.inc({ binding: e.binding });
    else if (e.outcome === 'error' && e.error) policyErrors.inc({ binding: e.binding, code: e.error.code });
  }
}
