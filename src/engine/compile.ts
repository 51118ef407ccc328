import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Message } from 'esbuild';
import { TollgateError } from '../errors.js';
import type { CompiledPolicy } from './types.js';

const ENTRY_NAMES = ['index.ts', 'index.mts', 'index.js', 'index.mjs'];

/** The SDK source that `tollgate/sdk` resolves to inside a policy bundle. */
function sdkEntry(): string {
  for (const candidate of ['../sdk/index.ts', '../sdk/index.js']) {
    const p = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('tollgate SDK not found next to the engine');
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Policy directories under a rules directory: each `rules/<name>/index.{ts,js}`. */
export function policyEntries(rulesDir: string): { dir: string; entry: string }[] {
  let names: string[];
  try {
    names = readdirSync(rulesDir, { withFileTypes: true })
      // A ConfigMap volume holds policy folders as symlinks into `..data/`: follow them.
      .filter(
        (d) =>
          (d.isDirectory() || (d.isSymbolicLink() && isDirectory(join(rulesDir, d.name)))) &&
          !d.name.startsWith('.') &&
          !d.name.startsWith('_'),
      )
      .map((d) => d.name)
      .sort();
  } catch (e) {
    throw new TollgateError(
      'TOLLGATE_ERR_INPUT_UNREADABLE',
      `cannot read rules directory ${rulesDir}: ${(e as Error).message}`,
    );
  }
  const out: { dir: string; entry: string }[] = [];
  for (const name of names) {
    const entry = ENTRY_NAMES.map((f) => join(rulesDir, name, f)).find((f) => existsSync(f));
    if (entry !== undefined) out.push({ dir: name, entry });
  }
  return out;
}

function formatMessage(m: Message): string {
  const loc = m.location;
  return loc ? `${loc.file}:${loc.line}:${loc.column}: ${m.text}` : m.text;
}

export interface CompileOptions {
  /** Where bundles are written (content-addressed, so unchanged policies reuse the same file). */
  readonly cacheDir?: string;
}

export function defaultCacheDir(): string {
  return join(tmpdir(), `tollgate-build-${process.getuid?.() ?? 'user'}`);
}

/**
 * Bundle every policy with esbuild (TypeScript, npm imports included) into one ESM file each, with an
 * inline source map so stack traces and denials point to `rules/<name>/index.ts:LINE`.
 */
export async function compilePolicies(
  rulesDir: string,
  opts: CompileOptions = {},
): Promise<CompiledPolicy[]> {
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  mkdirSync(cacheDir, { recursive: true });
  const sdk = sdkEntry();
  const entries = policyEntries(rulesDir);
  return Promise.all(
    entries.map(async ({ dir, entry }) => {
      const source = relative(process.cwd(), entry) || entry;
      let code: string;
      try {
        const result = await build({
          entryPoints: [resolve(entry)],
          bundle: true,
          write: false,
          platform: 'node',
          format: 'esm',
          target: 'node20',
          sourcemap: 'inline',
          // The map's sources are relative to absWorkingDir, but Node resolves them against the bundle's own
          // location (the cache dir): anchor them so stack frames name the real rules/<x>/index.ts file.
          sourceRoot: pathToFileURL(`${process.cwd()}/`).href,
          alias: { 'tollgate/sdk': sdk },
          logLevel: 'silent',
          absWorkingDir: process.cwd(),
          legalComments: 'none',
        });
        const file = result.outputFiles?.[0];
        if (file === undefined) throw new Error('esbuild produced no output');
        code = file.text;
      } catch (e) {
        const errors = (e as { errors?: Message[] }).errors;
        const text = errors?.length ? errors.map(formatMessage).join('\n') : (e as Error).message;
        throw new TollgateError(
          'TOLLGATE_ERR_POLICY_COMPILE',
          `policy ${source} does not compile:\n${text}`,
          {
            file: source,
          },
        );
      }
      const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
      const bundle = join(cacheDir, `${dir}-${hash}.mjs`);
      if (!existsSync(bundle)) {
        const tmp = `${bundle}.${process.pid}.tmp`;
        writeFileSync(tmp, code);
        renameSync(tmp, bundle);
      }
      return { dir, source, bundle };
    }),
  );
}
