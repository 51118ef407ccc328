// The harness's memory figures for a process tree (bench/lib/proc.ts), on real processes: a parent node
// process with a child node process, which share node's code pages.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { descendants, treeRssMb } from '../bench/lib/proc.js';

test('shared pages count once in uniqueMb, in every process in mb', async (t) => {
  const parent = spawn(
    process.execPath,
    [
      '-e',
      `const { spawn } = require('node:child_process');
       const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
       c.on('spawn', () => console.log('up'));
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => {
    for (const p of descendants(parent.pid!)) process.kill(p, 'SIGKILL');
    parent.kill('SIGKILL');
  });
  await once(parent.stdout!, 'data');
  // Let the child finish starting (its RSS grows while node boots).
  let m = treeRssMb(parent.pid!, true);
  for (let i = 0; i < 50 && m.processes < 2; i++) {
    await new Promise((r) => setTimeout(r, 100));
    m = treeRssMb(parent.pid!, true);
  }
  assert.equal(m.processes, 2);
  assert.ok(m.mb > 0 && m.pssMb > 0);
  assert.ok(m.pssMb <= m.mb, JSON.stringify(m));
  if (process.getuid?.() !== 0) {
    assert.equal(m.uniqueMb, undefined, 'page frames are visible to root only');
    return;
  }
  assert.ok(m.uniqueMb !== undefined, JSON.stringify(m));
  // Two node processes share node's code: counted once, the tree holds clearly less than the sum...
  assert.ok(m.uniqueMb < m.mb * 0.9, JSON.stringify(m));
  // ...and at least the larger process's own resident set (everything in it is resident once at least).
  const single = treeRssMb(descendants(parent.pid!)[0]!, true);
  assert.ok(m.uniqueMb + 1 >= single.mb * 0.95, JSON.stringify({ m, single }));
});
