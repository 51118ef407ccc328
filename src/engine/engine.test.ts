import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  admissionResponse,
  apiserverBytes,
  bindingYaml,
  CONFORMANCE_POLICIES,
  pod,
  policySetFrom,
  REPO_ROOT,
  review,
  tempDir,
} from '../../test/engine-conformance.case.js';
import { TollgateError } from '../errors.js';
import { errorReply, handleRequest, InlineEngine } from './engine.js';
import type { PolicySet } from './policy-set.js';

/** A small seeded PRNG so a failing case reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('handleRequest', () => {
  let root = '';
  let set: PolicySet;
  before(async () => {
    root = tempDir();
    const seed = readFileSync(join(REPO_ROOT, 'rules', 'seed-image-check', 'index.ts'), 'utf8');
    set = await policySetFrom(
      root,
      {
        'seed-image-check': seed,
        'add-labels': CONFORMANCE_POLICIES['add-labels']!,
        'connect-guard': CONFORMANCE_POLICIES['connect-guard']!,
        protect: CONFORMANCE_POLICIES.protect!,
      },
      [
        bindingYaml('seed', 'seed-image-check', { parameters: { registry: '192.168.64.1' } }),
        bindingYaml('add-labels', 'add-labels'),
        bindingYaml('connect-guard', 'connect-guard'),
        bindingYaml('protect', 'protect'),
        // Every match field, so that broken objects go through every matcher.
        bindingYaml('every-field', 'seed-image-check', {
          parameters: { registry: '192.168.64.1' },
          match: {
            kinds: [{ apiGroups: ['*'], kinds: ['*'] }],
            operations: ['*'],
            namespaces: ['d*', '*t'],
            excludedNamespaces: ['kube-*'],
            labelSelector: {
              matchExpressions: [
                { key: 'app', operator: 'In', values: ['x'] },
                { key: 'b', operator: 'NotIn', values: ['y'] },
                { key: 'c', operator: 'DoesNotExist' },
              ],
            },
            namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'Exists' }] },
            scope: '*',
            name: 'p*',
            users: ['*'],
            groups: ['system:*'],
          },
        }),
      ].join(''),
    );
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('never answers 5xx, whatever the body: 3000 structural mutations of a valid review', async () => {
    const rand = prng(0xad515);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const junk = (): unknown =>
      pick([
        null,
        true,
        0,
        -1,
        1e308,
        '',
        'x',
        '\u0000',
        '😀',
        [],
        [null],
        {},
        { kind: 'Pod' },
        { metadata: null },
        { spec: { containers: 'x' } },
        { spec: { containers: [{ image: 5 }] } },
        JSON.parse('{"__proto__":{"polluted":1}}'),
        JSON.parse('{"toString":1,"valueOf":2}'),
      ]);
    const base = () =>
      rand() < 0.2
        ? review({
            kind: { group: '', version: 'v1', kind: 'Namespace' },
            object: {
              apiVersion: 'v1',
              kind: 'Namespace',
              metadata: { name: 'dev', labels: { app: 'x', env: 'e' } },
            },
            operation: pick(['CREATE', 'UPDATE', 'DELETE']),
          })
        : review({
            object: pod('p', 'default', { labels: { app: 'x' } }),
            oldObject: pod('p', 'default'),
            operation: pick(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
          });
    /** Every [container, key] pair in a document, to pick a place to break. */
    const slots = (v: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []) => {
      if (Array.isArray(v)) {
        v.forEach((x, i) => {
          out.push([v, i]);
          slots(x, out);
        });
      } else if (typeof v === 'object' && v !== null) {
        for (const [k, x] of Object.entries(v)) {
          out.push([v as Record<string, unknown>, k]);
          slots(x, out);
        }
      }
      return out;
    };
    const statuses = new Map<number, number>();
    for (let i = 0; i < 3000; i++) {
      const doc = base();
      // Half the time without request.name, so the matchers read the (breakable) object's name.
      if (rand() < 0.5) delete (doc.request as Record<string, unknown>).name;
      const edits = 1 + Math.floor(rand() * 3);
      for (let e = 0; e < edits; e++) {
        const all = slots(doc);
        const [parent, key] = pick(all);
        if (rand() < 0.2 && !Array.isArray(parent)) delete (parent as Record<string, unknown>)[key as string];
        else (parent as Record<string | number, unknown>)[key] = junk();
      }
      let bytes = apiserverBytes(doc);
      const r = rand();
      if (r < 0.05) bytes = bytes.slice(0, Math.floor(rand() * bytes.length));
      else if (r < 0.1) {
        bytes = bytes.slice();
        bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      }
      for (const endpoint of ['validate', 'mutate'] as const) {
        const reply = await handleRequest(set, { body: bytes, endpoint });
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        assert.ok(
          reply.status === 200 || reply.status === 400,
          `case ${i} ${endpoint}: ${reply.status} ${reply.body} for ${new TextDecoder().decode(bytes)}`,
        );
        if (reply.status === 200) admissionResponse(reply, (doc as { apiVersion: string }).apiVersion);
        else {
          const status = JSON.parse(reply.body) as { kind: string; code: number };
          assert.equal(status.kind, 'Status');
          assert.equal(status.code, 400);
          assert.match(reply.error?.code ?? '', /^TOLLGATE_ERR_ADMISSION_/);
        }
      }
    }
    // Both kinds of answer occurred (the mutations are not all harmless, nor all fatal).
    assert.ok(
      (statuses.get(200) ?? 0) > 100 && (statuses.get(400) ?? 0) > 100,
      JSON.stringify([...statuses]),
    );
  });

  it('a patch is produced only for CREATE/UPDATE on /mutate', async () => {
    for (const operation of ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const) {
      const body = apiserverBytes(
        review({ operation, object: pod('p', 'default'), oldObject: pod('p', 'default') }),
      );
      const m = admissionResponse(await handleRequest(set, { body, endpoint: 'mutate' }));
      assert.equal(m.patch !== undefined, operation === 'CREATE' || operation === 'UPDATE', operation);
      const v = admissionResponse(await handleRequest(set, { body, endpoint: 'validate' }));
      assert.equal(v.patch, undefined);
    }
  });

  it('freezeObjects is passed through', async () => {
    const engine = InlineEngine.fromPolicySet(set, { freezeObjects: true });
    const reply = await engine.evaluate({
      body: apiserverBytes(review({ object: pod('p', 'default') })),
      endpoint: 'validate',
    });
    assert.equal(admissionResponse(reply).allowed, true);
    assert.equal(engine.policySet, set);
    await engine.close();
  });
});

describe('errorReply', () => {
  it('a TollgateError keeps its status and code; anything else is a 500 internal error', () => {
    const e = errorReply(new TollgateError('TOLLGATE_ERR_ADMISSION_NO_UID', 'no uid'));
    assert.equal(e.status, 400);
    assert.deepEqual(e.error, { code: 'TOLLGATE_ERR_ADMISSION_NO_UID', message: 'no uid' });
    assert.deepEqual(JSON.parse(e.body), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'no uid',
      reason: 'BadRequest',
      code: 400,
    });
    const i = errorReply(new RangeError('boom'));
    assert.equal(i.status, 500);
    assert.equal(i.error?.code, 'TOLLGATE_ERR_INTERNAL');
    assert.equal((JSON.parse(i.body) as { reason: string }).reason, 'InternalError');
  });
});
