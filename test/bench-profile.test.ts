// Reading perf's samples of the server CPU (bench/lib/profile.ts) on real `perf script` output: twelve
// samples recorded from `tollgate serve` at saturation (primary 22184, worker 22212, its pool thread 22223).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  categorize,
  type ProfileResults,
  parsePerfScript,
  renderProfileMarkdown,
  summarize,
  threadRoles,
} from '../bench/lib/profile.js';

const text = readFileSync(new URL('../bench/lib/fixtures/perf-script.txt', import.meta.url), 'utf8');
const samples = parsePerfScript(text);
const procs = { primary: 22184, workers: [22212] };

test('perf script: one sample per block, header fields, frames leaf first', () => {
  assert.equal(samples.length, 12);
  const first = samples[0]!;
  assert.deepEqual([first.comm, first.pid, first.tid], ['node', 22212, 22223]);
  assert.equal(first.frames.length, 26);
  assert.match(first.frames[0]!.sym, /^v8::internal::StringTable::LookupKey/);
  assert.equal(first.frames[0]!.dso, '/usr/bin/node');
  assert.match(first.frames.at(-1)!.sym, /^start_thread/);
  const idle = samples.find((s) => s.comm === 'swapper')!;
  assert.deepEqual([idle.pid, idle.tid], [0, 0]);
});

test('perf script: symbol offsets are dropped, unknown frames and odd lines kept apart', () => {
  const s = parsePerfScript(
    [
      'memfd:sealed-91 20335/20335     250000 ',
      '\tffffffff8224215b pv_native_safe_halt+0x1b ([kernel.kallsyms])',
      '\t    7f29100a8ce0 [unknown] (/tmp/perf-22212.map)',
      'not a frame',
      '',
    ].join('\n'),
  );
  assert.equal(s.length, 1);
  assert.equal(s[0]!.comm, 'memfd:sealed-91');
  assert.deepEqual(s[0]!.frames, [
    { sym: 'pv_native_safe_halt', dso: '[kernel.kallsyms]' },
    { sym: '[unknown]', dso: '/tmp/perf-22212.map' },
  ]);
});

test('thread roles: event loop by tid = pid, pool thread through Worker::Run, helpers, primary, idle', () => {
  const roles = threadRoles(samples, procs);
  assert.equal(roles.get(22212), 'event loop');
  assert.equal(roles.get(22223), 'pool thread');
  assert.equal(roles.get(22214), 'helper threads');
  assert.equal(roles.get(22184), 'primary');
  assert.equal(roles.get(0), 'idle');
  assert.equal(threadRoles(samples, { primary: 1, workers: [] }).get(22223), 'other');
});

test('categories: by the syscall at a kernel leaf, then GC, JSON.parse, uWS, and the innermost JS frame', () => {
  const roles = threadRoles(samples, procs);
  const got = samples
    .filter((s) => roles.get(s.tid) !== 'idle')
    .map((s) => `${roles.get(s.tid)}: ${categorize(s.frames)}`);
  assert.deepEqual(got, [
    'pool thread: JSON.parse',
    'pool thread: policy evaluation',
    'event loop: TLS + HTTP (uWS)',
    'event loop: kernel TCP + epoll',
    'pool thread: GC',
    'event loop: hand-over (messages, wake-ups)',
    'primary: scheduler (context switches)',
    'event loop: webhook handler (our event-loop JS)',
    'primary: scheduler (context switches)',
    'pool thread: metrics',
    'helper threads: other (V8, Node, libc)',
  ]);
  assert.equal(categorize([]), 'other (V8, Node, libc)');
  assert.equal(
    categorize([{ sym: 'JS:*flush file:///x/dist/engine/pool.js:296:13', dso: '/tmp/perf-1.map' }]),
    'hand-over (messages, wake-ups)',
  );
  assert.equal(
    categorize([
      { sym: 'futex_wait', dso: '[kernel.kallsyms]' },
      { sym: 'do_syscall_64', dso: '[kernel.kallsyms]' },
    ]),
    'hand-over (messages, wake-ups)',
  );
});

test('summarize: samples × (cpus × seconds ÷ samples) ÷ requests, idle apart, every server role in the total', () => {
  // 12 samples over 3 ms of one CPU: 250 µs each, the period perf used; 2 requests.
  const p = summarize(samples, procs, { requests: 2, seconds: 0.003, cpus: 1 });
  assert.equal(p.samples, 12);
  assert.equal(p.idleShare, Math.round((1 / 12) * 1000) / 1000);
  assert.deepEqual(p.roleTotals, {
    'event loop': 500,
    'pool thread': 500,
    'helper threads': 125,
    primary: 250,
  });
  assert.equal(p.serverTotal, 1375);
  assert.equal(p.usPerRequest['pool thread']?.['JSON.parse'], 125);
  assert.equal(p.usPerRequest.primary?.['scheduler (context switches)'], 250);
  assert.equal(p.usPerRequest['event loop']?.GC, undefined);
  assert.equal(summarize(samples, procs, { requests: 0, seconds: 1, cpus: 1 }).serverTotal, 0);
});

test('markdown: a row per category with the difference between the two load points', () => {
  const sat = summarize(samples, procs, { requests: 2, seconds: 0.003, cpus: 1 });
  const part = summarize(samples, procs, { requests: 1, seconds: 0.003, cpus: 1 });
  const r: ProfileResults = {
    date: '2026-12-05T00:00:00.000Z',
    commit: 'abc',
    machine: 'test',
    policy: 'seed',
    serverCpus: '0',
    loadCpus: '1',
    saturation: { ...sat, rps: 10_000 },
    partial: { ...part, rate: 7000, fraction: 0.7, p99Ms: 1.5 },
    notes: ['a note'],
  };
  const md = renderProfileMarkdown(r);
  assert.match(md, /\| JSON\.parse \| – \| 125\.0 \| – \| 250\.0 \| \+125\.0 \|/);
  assert.match(
    md,
    /\| \*\*all\*\* \| \*\*500\.0\*\* \| \*\*500\.0\*\* \| \*\*1000\.0\*\* \| \*\*1000\.0\*\* \| \*\*\+1000\.0\*\* \|/,
  );
  assert.match(md, /10,000 req\/s/);
  assert.match(md, /70 % of that .* 7,000 req\/s/);
  assert.match(md, /- a note/);
  assert.doesNotMatch(md, /\| metrics \| – \| – \|/);
});
