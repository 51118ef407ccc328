import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batchHeadBytes, encodeAnswers, readAnswers } from './thread-messages.js';

describe('the batch answer buffer', () => {
  it('carries each status and body, UTF-8 of any width, in order', () => {
    const bodies = ['{"uid":"a"}', '', '{"message":"é – 🙂 — 漢字"}', 'x'.repeat(70_000)];
    const bytes = encodeAnswers(Int32Array.from([200, 500, 403, 200]), bodies);
    const got = readAnswers(bytes);
    assert.deepEqual([...got.statuses], [200, 500, 403, 200]);
    const decoder = new TextDecoder();
    assert.deepEqual(
      got.bodies.map((b) => decoder.decode(b)),
      bodies,
    );
    // The bodies are views of the one buffer (no copy), back to back after an 8-byte aligned header.
    assert.ok(got.bodies.every((b) => b.buffer === bytes));
    assert.equal(got.bodies[0]!.byteOffset % 8, 0);
    assert.equal(bytes.byteLength, got.bodies[3]!.byteOffset + 70_000);
  });

  it('of an odd and an even count, and of none', () => {
    for (const n of [0, 1, 2, 3]) {
      const bodies = Array.from({ length: n }, (_, i) => `body-${i}`);
      const got = readAnswers(encodeAnswers(new Int32Array(n).fill(200), bodies));
      assert.equal(got.statuses.length, n);
      assert.deepEqual(
        got.bodies.map((b) => Buffer.from(b).toString()),
        bodies,
      );
    }
  });

  it('a batch header holds the count and four cells per item', () => {
    assert.equal(batchHeadBytes(0), 8);
    assert.equal(batchHeadBytes(3), 8 + 3 * 4 * 8);
  });
});
