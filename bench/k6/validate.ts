// k6 load test for a deployed Tollgate webhook: AdmissionReviews at a constant arrival rate (open model,
// like the kube-apiserver: requests keep coming whether or not the webhook keeps up), with thresholds on
// p99 latency and on errors. The bodies are the harness's own (bench/bodies/), so a cluster run measures
// the same thing as `npm run bench`.
//
//   k6 run bench/k6/validate.ts -e TOLLGATE_URL=https://localhost:8443 -e RATE=500 -e DURATION=1m -e INSECURE=1
//
// Environment: TOLLGATE_URL (no trailing slash), ENDPOINT (validate | mutate), RATE (req/s), DURATION,
// BODY (2k | 20k | 1m), DENY_SHARE (0..1, share of requests that must be denied), P99_MS (threshold),
// BODIES_DIR (where review-*.json are; default ../bodies), INSECURE=1 to skip certificate checks (k6 cannot
// be given a CA bundle; an in-cluster run against a self-signed serving certificate needs it).
import { check } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import type { Options } from 'k6/options';

const BASE_URL = __ENV.TOLLGATE_URL ?? 'https://tollgate.tollgate-system.svc:443';
const ENDPOINT = __ENV.ENDPOINT ?? 'validate';
const RATE = Number(__ENV.RATE ?? '200');
const DURATION = __ENV.DURATION ?? '2m';
const BODY = __ENV.BODY ?? '2k';
const DENY_SHARE = Number(__ENV.DENY_SHARE ?? '0.1');
const P99_MS = Number(__ENV.P99_MS ?? '2');
const BODIES_DIR = __ENV.BODIES_DIR ?? '../bodies';

// open() runs once per VU at init time: the bodies are read from disk once, not per request.
const ALLOW = open(`${BODIES_DIR}/review-${BODY}.json`);
const DENY = open(`${BODIES_DIR}/review-deny.json`);
const ALLOW_UID = (JSON.parse(ALLOW) as { request: { uid: string } }).request.uid;
const DENY_UID = (JSON.parse(DENY) as { request: { uid: string } }).request.uid;

export const options: Options = {
  insecureSkipTLSVerify: __ENV.INSECURE === '1',
  // The apiserver speaks HTTP/1.1 with keep-alive; so does k6 against a server without h2 in its ALPN.
  scenarios: {
    admission: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      // 25 VUs ≈ the apiserver's 25 idle connections per webhook host; more are added if the webhook lags.
      preAllocatedVUs: 25,
      maxVUs: 200,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    [`http_req_duration{endpoint:${ENDPOINT}}`]: [`p(99)<${P99_MS}`, 'p(99.9)<50'],
    checks: ['rate>0.999'],
    // Requests k6 could not start on time mean the generator, not the webhook, was the bottleneck.
    dropped_iterations: ['count<1'],
  },
  summaryTrendStats: ['min', 'med', 'p(90)', 'p(99)', 'p(99.9)', 'max'],
};

/** A fresh uid per request, as the apiserver sends: the webhook must echo it. */
function uidFor(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

export default function (): void {
  const n = exec.scenario.iterationInTest;
  const deny = DENY_SHARE > 0 && n % Math.round(1 / DENY_SHARE) === 0;
  const uid = uidFor(n);
  const body = deny ? DENY.replace(DENY_UID, uid) : ALLOW.replace(ALLOW_UID, uid);
  const res = http.post(`${BASE_URL}/${ENDPOINT}?timeout=10s`, body, {
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, */*' },
    tags: { endpoint: ENDPOINT, expected: deny ? 'deny' : 'allow' },
    timeout: '10s',
  });
  check(res, {
    'status is 200': (r) => r.status === 200,
    'AdmissionReview v1': (r) =>
      r.json('apiVersion') === 'admission.k8s.io/v1' && r.json('kind') === 'AdmissionReview',
    'uid echoed': (r) => r.json('response.uid') === uid,
    'decision as expected': (r) => r.json('response.allowed') === !deny,
  });
}
