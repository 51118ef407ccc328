// What a result file says about where it was measured: the commit and the machine.
import { execFileSync } from 'node:child_process';
import { cpus, release } from 'node:os';

/** The checked-out commit (12 hex digits), `-dirty` with uncommitted changes to tracked files. */
export function commitOf(repoRoot: string): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: repoRoot }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot })
      .toString()
      .trim();
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return 'unknown';
  }
}

export function machineDescription(): string {
  const c = cpus();
  return `${c[0]?.model.trim() ?? 'unknown cpu'} × ${c.length}, Linux ${release()}, Node ${process.version}`;
}
