// Small build steps of the harness: TypeScript processes it starts run as plain JavaScript (stripped by
// esbuild into bench/.build/, where node resolves packages from bench/ and the root), so no loader adds its
// own process, memory or start-up time to what is measured; and dist/ is rebuilt only when stale.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { transformSync } from 'esbuild';

/** Strip the types of one self-contained script (`lib/x.ts`) into `.build/x.mjs`; returns its path. */
export function compiledScript(benchDir: string, source: string): string {
  const out = join(benchDir, '.build', basename(source).replace(/\.ts$/, '.mjs'));
  mkdirSync(join(benchDir, '.build'), { recursive: true });
  const code = transformSync(readFileSync(join(benchDir, source), 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
  }).code;
  writeFileSync(out, code);
  return out;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** True when dist/ is missing or older than some source file under src/. */
export function distIsStale(repoRoot: string): boolean {
  try {
    return statSync(join(repoRoot, 'dist', 'main.js')).mtimeMs < newestMtime(join(repoRoot, 'src'));
  } catch {
    return true;
  }
}
