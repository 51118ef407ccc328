import assert from 'node:assert/strict';
import { test } from 'node:test';
import { workerExecArgv } from './index.js';

test('workers get the configured semi-space as maximum and minimum', () => {
  assert.deepEqual(workerExecArgv(['--enable-source-maps'], 2), [
    '--enable-source-maps',
    '--max-semi-space-size=2',
    '--min-semi-space-size=2',
  ]);
});

test("the caller's own semi-space flags win", () => {
  assert.deepEqual(workerExecArgv(['--max-semi-space-size=16'], 2), ['--max-semi-space-size=16']);
  assert.deepEqual(workerExecArgv(['--max_semi_space_size', '8'], 2), ['--max_semi_space_size', '8']);
  assert.deepEqual(workerExecArgv(['--min-semi-space-size=1'], 4), [
    '--min-semi-space-size=1',
    '--max-semi-space-size=4',
  ]);
});
