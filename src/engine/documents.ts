import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { TollgateError } from '../errors.js';
import type { SourceDocument } from './types.js';

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

/** Files under a path: the file itself, or every .yaml/.yml/.json below a directory, sorted. */
export function manifestFiles(path: string): string[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (e) {
    throw new TollgateError('TOLLGATE_ERR_INPUT_UNREADABLE', `cannot read ${path}: ${(e as Error).message}`, {
      file: path,
    });
  }
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    // Kubernetes ConfigMap volumes hold `..data` and `..2026_…` entries: follow the visible names only.
    if (entry.name.startsWith('.')) continue;
    const full = join(path, entry.name);
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && statSync(full).isDirectory());
    if (isDir) out.push(...manifestFiles(full));
    else if (MANIFEST_EXT.test(entry.name)) out.push(full);
  }
  return out;
}

/**
 * Parse multi-document YAML (JSON is YAML too). Each document keeps its file, index and line; a syntax
 * error names the file and line. A `kind: List` (or `*List`) is flattened into its items.
 */
export function parseDocuments(text: string, file: string): SourceDocument[] {
  const display = relative(process.cwd(), file) || file;
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const out: SourceDocument[] = [];
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, index) => {
    const err = doc.errors[0];
    if (err !== undefined) {
      const line = err.linePos?.[0]?.line ?? 0;
      throw new TollgateError(
        'TOLLGATE_ERR_INPUT_PARSE',
        `${display}:${line}: ${err.message.split('\n')[0]}`,
        { file: display, line, doc: index },
      );
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    const line = doc.contents ? lineOf(text, doc.contents.range?.[0] ?? 0) : 1;
    const location = { file: display, doc: index, line };
    if (isList(value)) {
      for (const item of value.items) out.push({ location, value: item });
    } else {
      out.push({ location, value });
    }
  });
  return out;
}

function isList(v: unknown): v is { items: unknown[] } {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.kind === 'string' && r.kind.endsWith('List') && Array.isArray(r.items);
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Read and parse every manifest under the given paths ('-' is not handled here; the CLI reads stdin). */
export function readDocuments(paths: readonly string[]): SourceDocument[] {
  const out: SourceDocument[] = [];
  for (const p of paths) {
    for (const file of manifestFiles(p)) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new TollgateError(
          'TOLLGATE_ERR_INPUT_UNREADABLE',
          `cannot read ${file}: ${(e as Error).message}`,
          {
            file,
          },
        );
      }
      out.push(...parseDocuments(text, file));
    }
  }
  return out;
}
