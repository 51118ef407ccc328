import assert from 'node:assert/strict';
import { it } from 'node:test';
import { requestTimeoutMs } from './webhook.js';

const limits = { defaultTimeoutMs: 10_000, maxTimeoutMs: 30_000 };

it('?timeout= is a Go duration; missing, garbled or non-positive falls back to the default; capped', () => {
  assert.equal(requestTimeoutMs('10s', limits), 10_000);
  assert.equal(requestTimeoutMs('1m0s', limits), 30_000);
  assert.equal(requestTimeoutMs('1.5s', limits), 1500);
  assert.equal(requestTimeoutMs('2s500ms', limits), 2500);
  for (const fallback of ['', 'abc', '10', '0', '-1s'])
    assert.equal(requestTimeoutMs(fallback, limits), 10_000, fallback);
});
