import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { validatePolicySet } from './validate.js';

const root = mkdtempSync(join(tmpdir(), 'tollgate-validate-'));
after(() => rmSync(root, { recursive: true, force: true }));

function tree(
  name: string,
  policy: string,
  binding: string,
): { rules: string; configs: string[]; data: string[]; cacheDir: string } {
  const dir = join(root, name);
  mkdirSync(join(dir, 'rules', 'p'), { recursive: true });
  writeFileSync(join(dir, 'rules', 'p', 'index.ts'), policy);
  writeFileSync(join(dir, 'binding.yaml'), binding);
  return {
    rules: join(dir, 'rules'),
    configs: [join(dir, 'binding.yaml')],
    data: [],
    cacheDir: join(dir, 'cache'),
  };
}

// The module body marks the global object of whatever process imports it.
const POLICY = `import { definePolicy } from 'tollgate/sdk';
(globalThis as Record<string, unknown>).__tollgateImported = true;
export default definePolicy({ name: 'p', validate: () => [] });
`;
const BINDING =
  'apiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata:\n  name: b\nspec:\n  policy: p\n';

test('a valid set comes back as plain data; policy code ran in the child, not here', async () => {
  const r = await validatePolicySet(tree('ok', POLICY, BINDING));
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.bindings, 1);
  assert.equal(r.policies, 1);
  assert.equal(r.source.policies[0]?.dir, 'p');
  assert.equal(r.source.bindings.length, 1);
  assert.equal((globalThis as Record<string, unknown>).__tollgateImported, undefined);
});

test('a policy that does not compile is an error value with its code', async () => {
  const r = await validatePolicySet(tree('syntax', `${POLICY}\nconst = ;\n`, BINDING));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, 'TOLLGATE_ERR_POLICY_COMPILE');
});

test('a policy that throws while loading, and a binding to an unknown policy, are rejected', async () => {
  const throwing = await validatePolicySet(
    tree('throws', `${POLICY}\nthrow new Error('boom at load');\n`, BINDING),
  );
  assert.equal(throwing.ok, false);
  assert.match(!throwing.ok ? throwing.error.message : '', /boom at load/);
  const unknown = await validatePolicySet(
    tree('unknown', POLICY, BINDING.replace('policy: p', 'policy: nope')),
  );
  assert.equal(!unknown.ok && unknown.error.code, 'TOLLGATE_ERR_BINDING_UNKNOWN_POLICY');
});

test('a policy whose module never finishes loading is stopped at the deadline', async () => {
  const r = await validatePolicySet(tree('hang', `${POLICY}\nwhile (true) {}\n`, BINDING), 3_000);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, 'TOLLGATE_ERR_POLICY_TIMEOUT');
});

test('rules mounted from a ConfigMap (policy folders are symlinks into ..data) are found', async () => {
  const dir = join(root, 'configmap-rules');
  const rules = join(dir, 'rules');
  mkdirSync(join(rules, '..2026_12_04', 'p'), { recursive: true });
  writeFileSync(join(rules, '..2026_12_04', 'p', 'index.ts'), POLICY);
  symlinkSync('..2026_12_04', join(rules, '..data'));
  symlinkSync(join('..data', 'p'), join(rules, 'p'));
  writeFileSync(join(dir, 'binding.yaml'), BINDING);
  const r = await validatePolicySet({
    rules,
    configs: [join(dir, 'binding.yaml')],
    data: [],
    cacheDir: join(dir, 'cache'),
  });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.policies, 1);
  assert.equal(r.source.policies[0]?.dir, 'p');
});

test('only policies a binding names are served; the others are still checked', async () => {
  const t = tree('unbound', POLICY, BINDING);
  mkdirSync(join(t.rules, 'spare'), { recursive: true });
  writeFileSync(
    join(t.rules, 'spare', 'index.ts'),
    "import { definePolicy } from 'tollgate/sdk';\nexport default definePolicy({ name: 'spare', validate: () => [] });\n",
  );
  const r = await validatePolicySet(t);
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.policies, 2);
  assert.deepEqual(
    r.source.policies.map((p) => p.dir),
    ['p'],
  );

  writeFileSync(join(t.rules, 'spare', 'index.ts'), 'export default 42;\n');
  const broken = await validatePolicySet(t);
  assert.equal(broken.ok, false);
});
