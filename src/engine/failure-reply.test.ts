import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BindingSummary } from '../ipc/thread-messages.js';
import { failureReply, unavailable } from './failure-reply.js';

const enc = new TextEncoder();

function reviewBytes(apiVersion = 'admission.k8s.io/v1'): Uint8Array {
  return enc.encode(
    JSON.stringify({
      apiVersion,
      kind: 'AdmissionReview',
      request: {
        uid: 'u-1',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        namespace: 'ns',
        operation: 'CREATE',
        userInfo: { username: 'u' },
        object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' } },
      },
    }),
  );
}

const binding = (over: Partial<BindingSummary> = {}): BindingSummary => ({
  name: 'b1',
  policy: 'p1',
  action: 'deny',
  failurePolicy: 'deny',
  timeoutMs: 100,
  ...over,
});

describe('failureReply: the answer for a request whose thread was stopped', () => {
  it('fails closed by default: 403 naming the binding and the code, in the review version received', () => {
    const r = failureReply(
      reviewBytes('admission.k8s.io/v1beta1'),
      binding(),
      'TOLLGATE_ERR_POLICY_TIMEOUT',
      'too slow',
      false,
    );
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as {
      apiVersion: string;
      response: { uid: string; allowed: boolean; status: { code: number; message: string } };
    };
    assert.equal(body.apiVersion, 'admission.k8s.io/v1beta1');
    assert.equal(body.response.uid, 'u-1');
    assert.equal(body.response.allowed, false);
    assert.equal(body.response.status.code, 403);
    assert.equal(body.response.status.message, '[b1] policy failed (TOLLGATE_ERR_POLICY_TIMEOUT): too slow');
    assert.deepEqual(
      r.decision?.evaluations.map((e) => [e.binding, e.outcome, e.error?.code]),
      [['b1', 'timeout', 'TOLLGATE_ERR_POLICY_TIMEOUT']],
    );
    assert.equal(r.decision?.kind, 'Pod');
    assert.equal(r.decision?.name, 'p');
  });

  it('failurePolicy allow admits with a warning; a heap crash is an error outcome', () => {
    const r = failureReply(
      reviewBytes(),
      binding({ failurePolicy: 'allow' }),
      'TOLLGATE_ERR_POLICY_CRASHED',
      'heap',
      false,
    );
    const resp = (JSON.parse(r.body) as { response: { allowed: boolean; warnings: string[] } }).response;
    assert.equal(resp.allowed, true);
    assert.deepEqual(resp.warnings, [
      '[b1] policy failed (TOLLGATE_ERR_POLICY_CRASHED): heap; allowed by failurePolicy',
    ]);
    assert.equal(r.decision?.evaluations[0]?.outcome, 'error');
  });

  it('failurePolicy allow still denies when an earlier binding had denied', () => {
    const r = failureReply(
      reviewBytes(),
      binding({ failurePolicy: 'allow' }),
      'TOLLGATE_ERR_POLICY_TIMEOUT',
      'x',
      true,
    );
    const resp = (JSON.parse(r.body) as { response: { allowed: boolean; status: { message: string } } })
      .response;
    assert.equal(resp.allowed, false);
    assert.match(resp.status.message, /earlier binding denied/);
  });

  it('warn bindings admit with a warning, dryrun bindings admit silently', () => {
    const warn = JSON.parse(
      failureReply(reviewBytes(), binding({ action: 'warn' }), 'TOLLGATE_ERR_POLICY_TIMEOUT', 'x', false)
        .body,
    );
    assert.equal(warn.response.allowed, true);
    assert.equal(warn.response.warnings.length, 1);
    const dry = JSON.parse(
      failureReply(reviewBytes(), binding({ action: 'dryrun' }), 'TOLLGATE_ERR_POLICY_TIMEOUT', 'x', false)
        .body,
    );
    assert.deepEqual(dry.response, { uid: 'u-1', allowed: true });
  });

  it('outside any binding there is no failure policy: a 500 Status with the code', () => {
    const r = failureReply(reviewBytes(), undefined, 'TOLLGATE_ERR_POLICY_CRASHED', 'died', false);
    assert.equal(r.status, 500);
    assert.equal(r.error?.code, 'TOLLGATE_ERR_POLICY_CRASHED');
    assert.equal(JSON.parse(r.body).kind, 'Status');
  });

  it('an undecodable body is a 400, as from the thread', () => {
    const r = failureReply(enc.encode('{'), binding(), 'TOLLGATE_ERR_POLICY_TIMEOUT', 'x', false);
    assert.equal(r.status, 400);
    assert.equal(r.error?.code, 'TOLLGATE_ERR_ADMISSION_BAD_JSON');
  });
});

describe('unavailable', () => {
  it('is a 503 metav1.Status with TOLLGATE_ERR_POOL_OVERLOADED and no Retry-After to give', () => {
    const r = unavailable('queue full');
    assert.equal(r.status, 503);
    assert.equal(r.error?.code, 'TOLLGATE_ERR_POOL_OVERLOADED');
    const body = JSON.parse(r.body) as { kind: string; code: number; reason: string; message: string };
    assert.deepEqual(
      [body.kind, body.code, body.reason, body.message],
      ['Status', 503, 'ServiceUnavailable', 'queue full'],
    );
  });
});
