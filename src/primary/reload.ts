/**
 * Watches input files and calls back when what they hold may have changed.
 *
 * Kubernetes mounts a ConfigMap or Secret as a directory of symlinks (`binding.yaml -> ..data/binding.yaml`,
 * `..data -> ..2026_12_04_20_00_00.123`) and updates it by writing a new timestamped directory and renaming
 * a new `..data` link over the old one. No watched file is written: only the directory changes. So the
 * watcher watches directories (a watched path's own directory, or its parent for a file), debounces the
 * burst of events, and then re-stats every input following symlinks: the callback runs only when a file's
 * identity, size or mtime changed. A watched directory that was replaced is watched again, and a slow
 * periodic re-stat catches events a file system never delivers.
 */
import { type FSWatcher, readdirSync, type Stats, statSync, watch } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../log/index.js';

export interface FileWatcherOptions {
  /** Files or directories; directories are read recursively. */
  readonly paths: readonly string[];
  readonly onChange: () => Promise<void>;
  readonly log: Logger;
  readonly debounceMs?: number;
  /** Re-stat this often even without events (0 disables). */
  readonly pollMs?: number;
}

function tryStat(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** One line per file below the inputs (symlinks followed, dot entries skipped as documents.ts does). */
export function fingerprint(paths: readonly string[]): string {
  const lines: string[] = [];
  const visit = (path: string, depth: number): void => {
    const st = tryStat(path);
    if (st === undefined) {
      lines.push(`${path}:missing`);
      return;
    }
    if (!st.isDirectory()) {
      lines.push(`${path}:${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`);
      return;
    }
    if (depth > 8) return;
    let names: string[];
    try {
      names = readdirSync(path).sort();
    } catch {
      lines.push(`${path}:unreadable`);
      return;
    }
    for (const name of names) {
      if (name.startsWith('.') || name === 'node_modules') continue;
      visit(join(path, name), depth + 1);
    }
  };
  for (const p of paths) visit(resolve(p), 0);
  return lines.join('\n');
}

interface Watched {
  /** Input directories are watched recursively; a file's directory only at its own level. */
  recursive: boolean;
  watcher: FSWatcher | undefined;
  ino: number | undefined;
}

export class FileWatcher {
  private readonly dirs = new Map<string, Watched>();
  private last: string;
  private timer: NodeJS.Timeout | undefined;
  private poller: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private closed = false;
  private readonly debounceMs: number;

  constructor(private readonly opts: FileWatcherOptions) {
    this.debounceMs = opts.debounceMs ?? 250;
    this.last = fingerprint(opts.paths);
    for (const p of opts.paths) {
      const abs = resolve(p);
      const st = tryStat(abs);
      // A directory is watched itself (recursively: rules/<name>/...); a file through its directory.
      const dir = st?.isDirectory() ? abs : dirname(abs);
      const recursive = st?.isDirectory() === true || this.dirs.get(dir)?.recursive === true;
      this.dirs.set(dir, { recursive, watcher: undefined, ino: undefined });
    }
    this.rewatch();
    const pollMs = opts.pollMs ?? 10_000;
    if (pollMs > 0) {
      this.poller = setInterval(() => this.schedule(0), pollMs);
      this.poller.unref();
    }
  }

  /** Check now (SIGHUP). */
  trigger(): void {
    this.schedule(0);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.poller !== undefined) clearInterval(this.poller);
    for (const w of this.dirs.values()) w.watcher?.close();
  }

  /** (Re)start a watcher on every directory that is not watched or whose inode changed. */
  private rewatch(): void {
    for (const [dir, w] of this.dirs) {
      const st = tryStat(dir);
      if (w.watcher !== undefined && st?.ino === w.ino) continue;
      w.watcher?.close();
      w.watcher = undefined;
      w.ino = st?.ino;
      if (st === undefined) continue; // missing for now: the poll re-checks
      try {
        const watcher = watch(dir, { recursive: w.recursive, persistent: false }, () =>
          this.schedule(this.debounceMs),
        );
        watcher.on('error', () => {
          watcher.close();
          if (w.watcher === watcher) w.watcher = undefined;
          this.schedule(this.debounceMs);
        });
        w.watcher = watcher;
      } catch (e) {
        this.opts.log.warn(
          { dir, err: (e as Error).message },
          'cannot watch directory; relying on periodic checks',
        );
      }
    }
  }

  private schedule(delay: number): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) {
      if (delay > 0) this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check();
    }, delay);
  }

  private async check(): Promise<void> {
    if (this.closed) return;
    this.rewatch();
    const now = fingerprint(this.opts.paths);
    if (now === this.last) return;
    this.last = now;
    this.running = true;
    try {
      await this.opts.onChange();
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, 'reload handler failed');
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      this.schedule(this.debounceMs);
    }
  }
}
