// The harness's view of a contestant's process tree (bench/lib/proc.ts), on real processes: a parent node
// process with a child node process. Memory figures (the two share node's code pages), freezing the tree
// while another contestant is measured, and how busy the machine is before a run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { cpuBusy, descendants, signalTree, startProcess, stopProcess, treeRssMb } from '../bench/lib/proc.js';

/** A node process that starts a child node process and prints `up` once the child is spawned. */
const PARENT_WITH_CHILD = [
  '-e',
  `const { spawn } = require('node:child_process');
   const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
   c.on('spawn', () => console.log('up'));
   setInterval(() => {}, 1000);`,
];

test('shared pages count once in uniqueMb, in every process in mb', async (t) => {
  const parent = spawn(process.execPath, PARENT_WITH_CHILD, { stdio: ['ignore', 'pipe', 'inherit'] });
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

/** The state letter of /proc/<pid>/stat: R running, S sleeping, T stopped. */
function state(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(ok(), what);
}

test('signalTree freezes and thaws the whole tree; stopProcess ends a frozen tree', async (t) => {
  const p = startProcess(process.execPath, PARENT_WITH_CHILD);
  t.after(() => stopProcess(p, 500));
  await once(p.child.stdout!, 'data');
  const pids = [p.child.pid!, ...descendants(p.child.pid!)];
  assert.equal(pids.length, 2);
  signalTree(p, 'SIGSTOP');
  await until('both processes stopped', () => pids.every((pid) => state(pid) === 'T'));
  signalTree(p, 'SIGCONT');
  await until('both processes running again', () => pids.every((pid) => state(pid) !== 'T'));
  signalTree(p, 'SIGSTOP');
  await until('stopped again', () => pids.every((pid) => state(pid) === 'T'));
  // SIGTERM alone would wait for the grace period (a stopped process does not act on it) and end in SIGKILL.
  await stopProcess(p, 10_000);
  assert.deepEqual(await p.exited, { code: null, signal: 'SIGTERM' });
});

test('cpuBusy sees processes that keep every cpu busy', async (t) => {
  const idle = await cpuBusy(200);
  assert.ok(idle !== undefined && idle >= 0 && idle <= 1, String(idle));
  const spinners = Array.from({ length: availableParallelism() }, () =>
    startProcess(process.execPath, ['-e', 'const end = Date.now() + 5000; while (Date.now() < end);']),
  );
  t.after(() => Promise.all(spinners.map((p) => stopProcess(p, 500))));
  await new Promise((r) => setTimeout(r, 300)); // let them start
  const busy = await cpuBusy(500);
  assert.ok(busy !== undefined && busy > 0.6, `one spinning process per cpu: ${busy}`);
});
