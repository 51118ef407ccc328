/**
 * RFC 6902 JSON Patch between two JSON values, minimal enough for the API server (ADMISSION.md §3.4):
 * objects are diffed key by key (so a missing `metadata.labels` is added as a whole object, never as
 * `/metadata/labels/x`), arrays element-wise when lengths allow, and pointer tokens are RFC 6901-escaped.
 */

export type PatchOperation =
  | { readonly op: 'add'; readonly path: string; readonly value: unknown }
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'replace'; readonly path: string; readonly value: unknown };

export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural equality of two JSON values (what `diff` returns no operation for). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a as object);
  const bo = b as Record<string, unknown>;
  if (ak.length !== Object.keys(bo).length) return false;
  for (const k of ak) {
    if (!Object.hasOwn(bo, k) || !jsonEqual((a as Record<string, unknown>)[k], bo[k])) return false;
  }
  return true;
}

/** Values are compared by their JSON form: `undefined` members are absent, as JSON.stringify sees them. */
function present(o: Record<string, unknown>, k: string): boolean {
  return Object.hasOwn(o, k) && o[k] !== undefined;
}

function diffInto(a: unknown, b: unknown, path: string, out: PatchOperation[]): void {
  if (jsonEqual(a, b)) return;
  if (isObject(a) && isObject(b)) {
    for (const k of Object.keys(a)) {
      if (!present(a, k)) continue;
      const p = `${path}/${escapePointerToken(k)}`;
      if (!present(b, k)) out.push({ op: 'remove', path: p });
      else diffInto(a[k], b[k], p, out);
    }
    for (const k of Object.keys(b)) {
      if (present(b, k) && !present(a, k))
        out.push({ op: 'add', path: `${path}/${escapePointerToken(k)}`, value: b[k] });
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const common = Math.min(a.length, b.length);
    // Element-wise only when the shared prefix changes little; otherwise one replace is smaller.
    let changed = 0;
    for (let i = 0; i < common; i++) if (!jsonEqual(a[i], b[i])) changed++;
    if (common > 0 && changed === common && a.length !== b.length) {
      out.push({ op: 'replace', path, value: b });
      return;
    }
    for (let i = 0; i < common; i++) diffInto(a[i], b[i], `${path}/${i}`, out);
    for (let i = common; i < b.length; i++) out.push({ op: 'add', path: `${path}/${i}`, value: b[i] });
    for (let i = a.length - 1; i >= common; i--) out.push({ op: 'remove', path: `${path}/${i}` });
    return;
  }
  out.push({ op: 'replace', path, value: b });
}

/** The patch that turns `from` into `to` (both JSON values). Empty when they are equal. */
export function diff(from: unknown, to: unknown): PatchOperation[] {
  const out: PatchOperation[] = [];
  diffInto(from, to, '', out);
  return out;
}
