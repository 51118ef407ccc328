import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Progress } from '../ipc/thread-messages.js';
import { PoolEngine } from './pool.js';

describe('pool options and layout', () => {
  it('rejects nonsense options with a config error before starting threads', async () => {
    for (const opts of [{ threads: 0 }, { maxQueue: -1 }, { timeoutMs: Number.NaN }, { maxBatch: 0 }]) {
      await assert.rejects(PoolEngine.create({ policies: [], bindings: [], data: [] }, opts), {
        code: 'TOLLGATE_ERR_CONFIG_INVALID',
      });
    }
  });

  it('the progress slot cells do not overlap the Float64 deadline', () => {
    assert.ok(Progress.INT32_CELLS * 4 <= Progress.DEADLINE_BYTE);
    assert.equal(Progress.DEADLINE_BYTE % 8, 0);
    assert.ok(Progress.DEADLINE_BYTE + 8 <= Progress.BYTES);
  });
});
