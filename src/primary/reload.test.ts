import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { FileWatcher, fingerprint } from './reload.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tollgate-watch-'));
  dirs.push(d);
  return d;
}

/** A ConfigMap volume as the kubelet lays it out, and its atomic update. */
function configMap(dir: string): { swap(content: string): void } {
  let v = 0;
  return {
    swap(content) {
      v++;
      mkdirSync(join(dir, `..v${v}`));
      writeFileSync(join(dir, `..v${v}`, 'binding.yaml'), content);
      symlinkSync(`..v${v}`, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      if (v === 1) symlinkSync('..data/binding.yaml', join(dir, 'binding.yaml'));
      else rmSync(join(dir, `..v${v - 1}`), { recursive: true });
    },
  };
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves once the watcher has been quiet for `ms` (no callback), to check that nothing more comes. */
async function quiet(count: () => number, ms: number): Promise<void> {
  const before = count();
  await new Promise((r) => setTimeout(r, ms));
  assert.equal(count(), before, 'no further change reported');
}

test('fingerprint follows symlinks and skips the ..data entries', () => {
  const dir = tempDir();
  const cm = configMap(dir);
  cm.swap('a: 1\n');
  const first = fingerprint([dir]);
  assert.equal(first.split('\n').length, 1, 'only binding.yaml, not ..data or ..v1');
  assert.match(first, /binding\.yaml:/);
  cm.swap('a: 22\n');
  assert.notEqual(fingerprint([dir]), first);
  assert.match(fingerprint([join(dir, 'missing')]), /:missing$/);
});

test('a ConfigMap ..data symlink swap is reported once', async () => {
  const dir = tempDir();
  const cm = configMap(dir);
  cm.swap('a: 1\n');
  let changes = 0;
  const w = new FileWatcher({
    paths: [dir],
    log,
    debounceMs: 50,
    pollMs: 0,
    onChange: async () => void changes++,
  });
  try {
    cm.swap('a: 2\n');
    await until('the swap to be seen', () => changes === 1);
    await quiet(() => changes, 300);
    cm.swap('a: 3\n');
    await until('the second swap', () => changes === 2);
  } finally {
    w.close();
  }
});

test('a burst of writes in a rules tree is debounced into one check', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'p1'));
  writeFileSync(join(dir, 'p1', 'index.ts'), 'export {};\n');
  let changes = 0;
  const w = new FileWatcher({
    paths: [dir],
    log,
    debounceMs: 150,
    pollMs: 0,
    onChange: async () => void changes++,
  });
  try {
    for (let i = 0; i < 10; i++) writeFileSync(join(dir, 'p1', 'index.ts'), `export const x = ${i};\n`);
    mkdirSync(join(dir, 'p2'));
    writeFileSync(join(dir, 'p2', 'index.ts'), 'export {};\n');
    await until('the burst to be seen', () => changes === 1);
    await quiet(() => changes, 400);
  } finally {
    w.close();
  }
});

test('a file replaced by rename (a rotated certificate) is seen through its directory', async () => {
  const dir = tempDir();
  const cert = join(dir, 'tls.crt');
  writeFileSync(cert, 'one');
  writeFileSync(join(dir, 'unrelated'), 'x');
  let changes = 0;
  const w = new FileWatcher({
    paths: [cert],
    log,
    debounceMs: 50,
    pollMs: 0,
    onChange: async () => void changes++,
  });
  try {
    writeFileSync(join(dir, 'unrelated'), 'y');
    await quiet(() => changes, 300);
    writeFileSync(`${cert}.new`, 'two');
    renameSync(`${cert}.new`, cert);
    await until('the rename to be seen', () => changes === 1);
  } finally {
    w.close();
  }
});

test('a watched directory that is removed and created again is watched again', async () => {
  const root = tempDir();
  const dir = join(root, 'config');
  mkdirSync(dir);
  writeFileSync(join(dir, 'b.yaml'), 'a: 1\n');
  let changes = 0;
  const w = new FileWatcher({
    paths: [dir],
    log,
    debounceMs: 50,
    pollMs: 100,
    onChange: async () => void changes++,
  });
  try {
    rmSync(dir, { recursive: true });
    await until('the removal to be seen', () => changes === 1);
    mkdirSync(dir);
    writeFileSync(join(dir, 'b.yaml'), 'a: 2\n');
    await until('the new directory to be seen', () => changes === 2);
    writeFileSync(join(dir, 'b.yaml'), 'a: 333\n');
    await until('a change inside the new directory', () => changes === 3);
  } finally {
    w.close();
  }
});

test('changes during a slow reload are checked again afterwards', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'b.yaml'), 'a: 1\n');
  let changes = 0;
  let release: () => void = () => {};
  const w = new FileWatcher({
    paths: [dir],
    log,
    debounceMs: 50,
    pollMs: 0,
    onChange: () => {
      changes++;
      return changes === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
    },
  });
  try {
    writeFileSync(join(dir, 'b.yaml'), 'a: 2\n');
    await until('the first change', () => changes === 1);
    writeFileSync(join(dir, 'b.yaml'), 'a: 33\n');
    await quiet(() => changes, 200);
    release();
    await until('the change made during the reload', () => changes === 2);
  } finally {
    w.close();
  }
});
