/** Text output helpers for the offline commands: aligned tables, stable YAML-ish dumps and line diffs. */
import { stringify } from 'yaml';

/** Columns padded to the widest cell; the last column is never padded. Cells lose their newlines. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const clean = (s: string) => s.replace(/\s*\n\s*/g, ' ');
  const all = [header, ...rows].map((r) => r.map(clean));
  const widths = header.map((_, i) => Math.max(...all.map((r) => Array.from(r[i] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((cell, i) =>
          i === r.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - Array.from(cell).length),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** A value as YAML with sorted keys, so two dumps of equal values are equal line by line. */
export function dump(v: unknown): string {
  if (v === undefined) return '(nothing)\n';
  return stringify(sortKeys(v), { lineWidth: 0, aliasDuplicateObjects: false });
}

const MAX_LCS_CELLS = 4_000_000;
const CONTEXT = 3;

/**
 * A unified-style line diff of two texts: `- ` lines only in `expected`, `+ ` lines only in `actual`,
 * with three lines of context around each change and `…` for what is skipped.
 */
export function lineDiff(expected: string, actual: string): string {
  const a = expected.replace(/\n$/, '').split('\n');
  const b = actual.replace(/\n$/, '').split('\n');
  const ops: { tag: ' ' | '-' | '+'; line: string }[] = [];
  if (a.length * b.length > MAX_LCS_CELLS) {
    for (const l of a) ops.push({ tag: '-', line: l });
    for (const l of b) ops.push({ tag: '+', line: l });
  } else {
    // Longest common subsequence, filled from the end so the walk below goes forwards.
    const n = a.length;
    const m = b.length;
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      const row = lcs[i] as Uint32Array;
      const next = lcs[i + 1] as Uint32Array;
      for (let j = m - 1; j >= 0; j--) {
        row[j] =
          a[i] === b[j] ? (next[j + 1] as number) + 1 : Math.max(next[j] as number, row[j + 1] as number);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) {
        ops.push({ tag: ' ', line: a[i] as string });
        i++;
        j++;
      } else if (j < m && (i === n || (lcs[i + 1]?.[j] ?? 0) < (lcs[i]?.[j + 1] ?? 0))) {
        ops.push({ tag: '+', line: b[j] as string });
        j++;
      } else {
        ops.push({ tag: '-', line: a[i] as string });
        i++;
      }
    }
  }
  const changed = ops.some((o) => o.tag !== ' ');
  const keep = ops.map(
    (_, k) => !changed || ops.slice(Math.max(0, k - CONTEXT), k + CONTEXT + 1).some((o) => o.tag !== ' '),
  );
  const out: string[] = [];
  let skipped = false;
  ops.forEach((o, k) => {
    if (keep[k]) {
      out.push(`${o.tag} ${o.line}`);
      skipped = false;
    } else if (!skipped) {
      out.push('  …');
      skipped = true;
    }
  });
  return out.join('\n');
}

/** Indent every line of a block of text. */
export function indent(text: string, by: string): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? l : by + l))
    .join('\n');
}
