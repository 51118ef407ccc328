/**
 * RFC 6902 JSON Patch applier (all six operations, RFC 6901 pointers), as the API server applies a
 * webhook's patch. Used by `tollgate test` to check the patch a mutating policy returns. The input is
 * never modified: the result is a new value; a failing operation throws with its index and path.
 */

export interface JsonPatchOp {
  readonly op: string;
  readonly path: string;
  readonly from?: string;
  readonly value?: unknown;
}

export class PatchError extends Error {
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(`patch operation ${index}: ${message}`);
    this.name = 'PatchError';
  }
}

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null;
}

/** `/a/b~1c/0` → ['a', 'b/c', '0']. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`JSON pointer ${JSON.stringify(pointer)} must start with /`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!isContainer(a) || !isContainer(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ak = Object.keys(a);
  const bo = b as Record<string, unknown>;
  return (
    ak.length === Object.keys(bo).length &&
    ak.every((k) => Object.hasOwn(bo, k) && deepEqual(a[k as never], bo[k]))
  );
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function arrayIndex(token: string, arr: unknown[], forAdd: boolean): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new Error(`${JSON.stringify(token)} is not an array index`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length))
    throw new Error(`index ${i} is out of bounds (length ${arr.length})`);
  return i;
}

/** The parent container of a pointer's last token, walking the document. */
function parentOf(doc: unknown, tokens: readonly string[]): Container {
  let cur: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur, false)];
    else if (isContainer(cur) && Object.hasOwn(cur, t)) cur = (cur as Record<string, unknown>)[t];
    else throw new Error(`path segment ${JSON.stringify(t)} does not exist`);
  }
  if (!isContainer(cur)) throw new Error('parent is not an object or array');
  return cur;
}

function get(doc: unknown, tokens: readonly string[]): unknown {
  if (tokens.length === 0) return doc;
  const parent = parentOf(doc, tokens);
  const last = tokens[tokens.length - 1] as string;
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent, false)];
  if (!Object.hasOwn(parent, last)) throw new Error(`${JSON.stringify(last)} does not exist`);
  return parent[last];
}

interface Root {
  doc: unknown;
}

function add(root: Root, tokens: readonly string[], value: unknown): void {
  if (tokens.length === 0) {
    root.doc = value;
    return;
  }
  const parent = parentOf(root.doc, tokens);
  const last = tokens[tokens.length - 1] as string;
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent, true), 0, value);
  else parent[last] = value;
}

function remove(root: Root, tokens: readonly string[]): unknown {
  if (tokens.length === 0) throw new Error('cannot remove the whole document');
  const parent = parentOf(root.doc, tokens);
  const last = tokens[tokens.length - 1] as string;
  if (Array.isArray(parent)) return parent.splice(arrayIndex(last, parent, false), 1)[0];
  if (!Object.hasOwn(parent, last)) throw new Error(`${JSON.stringify(last)} does not exist`);
  const old = parent[last];
  delete parent[last];
  return old;
}

/** Apply a patch (an array of operations, e.g. the decoded `response.patch`) to a copy of `doc`. */
export function applyPatch(doc: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new PatchError(0, 'a JSON Patch must be an array of operations');
  const root: Root = { doc: clone(doc) };
  patch.forEach((raw: unknown, i: number) => {
    if (!isContainer(raw) || Array.isArray(raw)) throw new PatchError(i, 'is not an object');
    const op = raw as unknown as JsonPatchOp;
    if (typeof op.path !== 'string') throw new PatchError(i, 'has no string path');
    try {
      const tokens = parsePointer(op.path);
      const needsValue = op.op === 'add' || op.op === 'replace' || op.op === 'test';
      if (needsValue && !Object.hasOwn(op, 'value')) throw new Error(`${op.op} needs a value`);
      switch (op.op) {
        case 'add':
          add(root, tokens, clone(op.value));
          break;
        case 'remove':
          remove(root, tokens);
          break;
        case 'replace':
          get(root.doc, tokens); // must exist
          if (tokens.length === 0) root.doc = clone(op.value);
          else {
            remove(root, tokens);
            add(root, tokens, clone(op.value));
          }
          break;
        case 'move':
        case 'copy': {
          if (typeof op.from !== 'string') throw new Error(`${op.op} needs a string from`);
          const from = parsePointer(op.from);
          if (op.op === 'move' && op.path.startsWith(`${op.from}/`))
            throw new Error('cannot move a value into itself');
          const value = op.op === 'move' ? remove(root, from) : clone(get(root.doc, from));
          add(root, tokens, value);
          break;
        }
        case 'test':
          if (!deepEqual(get(root.doc, tokens), op.value)) throw new Error('test failed: value differs');
          break;
        default:
          throw new Error(`unknown op ${JSON.stringify(op.op)}`);
      }
    } catch (e) {
      if (e instanceof PatchError) throw e;
      throw new PatchError(i, `${String(op.op)} ${op.path}: ${(e as Error).message}`);
    }
  });
  return root.doc;
}
