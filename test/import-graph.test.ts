/**
 * What each serving process loads for good. Static imports are loaded at start and stay; the compiler
 * (esbuild), ajv and the policy-set builder belong to validation and to the pool threads that build a set,
 * never to a worker's event loop or the primary, where they would cost every process their heap for
 * nothing (docs/operations.md, Memory). Dynamic `import()` is how the rare paths reach them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** Modules a file loads at start: static imports and re-exports that are not type-only. */
function staticImports(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const out: string[] = [];
  for (const s of sf.statements) {
    let spec: ts.Expression | undefined;
    if (ts.isImportDeclaration(s)) {
      const c = s.importClause;
      const typeOnly =
        c !== undefined &&
        (c.isTypeOnly ||
          (c.name === undefined &&
            c.namedBindings !== undefined &&
            ts.isNamedImports(c.namedBindings) &&
            c.namedBindings.elements.length > 0 &&
            c.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) spec = s.moduleSpecifier;
    } else if (ts.isExportDeclaration(s) && s.moduleSpecifier !== undefined) {
      const typeOnly =
        s.isTypeOnly ||
        (s.exportClause !== undefined &&
          ts.isNamedExports(s.exportClause) &&
          s.exportClause.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) spec = s.moduleSpecifier;
    }
    if (spec !== undefined && ts.isStringLiteral(spec)) out.push(spec.text);
  }
  return out;
}

/** Every module reachable from `entry` by static imports: source files (relative to src/) and packages. */
function loadedFrom(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [join(SRC, entry)];
  while (todo.length > 0) {
    const file = todo.pop()!;
    const key = file.slice(SRC.length + 1);
    if (seen.has(key)) continue;
    seen.add(key);
    for (const spec of staticImports(file)) {
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:')) seen.add(spec);
    }
  }
  return seen;
}

const BUILDERS = ['esbuild', 'ajv', 'engine/compile.ts', 'engine/policy-set.ts', 'engine/engine.ts'];

test("a worker's event loop loads neither the compiler nor the policy-set builder", () => {
  const loaded = loadedFrom('worker/index.ts');
  assert.ok(loaded.has('engine/pool.ts') && loaded.has('uws.ts'), [...loaded].join(', '));
  for (const m of BUILDERS) assert.ok(!loaded.has(m), `worker/index.ts loads ${m}`);
});

test('the primary loads none of them either; validation runs in its own process', () => {
  const loaded = loadedFrom('primary/index.ts');
  assert.ok(loaded.has('primary/validate.ts') && loaded.has('prom-client'), [...loaded].join(', '));
  for (const m of BUILDERS) assert.ok(!loaded.has(m), `primary/index.ts loads ${m}`);
  assert.ok(loadedFrom('primary/validate-child.ts').has('esbuild'));
});

test('pool threads build their set (ajv applies parameter defaults) but never compile', () => {
  const loaded = loadedFrom('engine/thread.ts');
  assert.ok(loaded.has('engine/policy-set.ts') && loaded.has('ajv'), [...loaded].join(', '));
  for (const m of ['esbuild', 'engine/compile.ts', 'engine/engine.ts']) {
    assert.ok(!loaded.has(m), `engine/thread.ts loads ${m}`);
  }
});
