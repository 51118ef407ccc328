/**
 * docs/policies.md stays in step with rules/: every shipped policy has a row naming its aliases, and
 * every row names a policy that exists.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { importPolicies } from '../../src/engine/policy-set.js';
import { compileRules } from './harness.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

it('docs/policies.md lists every policy in rules/ with its aliases', async () => {
  const policies = await importPolicies(await compileRules(resolve(root, 'rules')));
  const doc = readFileSync(resolve(root, 'docs/policies.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const line of doc.split('\n')) {
    const m = /^\| \[`([a-z0-9-]+)`\]/.exec(line);
    if (m) rows.set(m[1]!, line);
  }
  for (const p of policies) {
    const row = rows.get(p.name);
    assert.ok(row !== undefined, `docs/policies.md has no row for ${p.name}`);
    for (const a of p.aliases) assert.ok(row.includes(`\`${a}\``), `row for ${p.name} does not name ${a}`);
  }
  const names = new Set(policies.map((p) => p.name));
  for (const name of rows.keys())
    assert.ok(names.has(name), `docs/policies.md lists ${name}, which is not in rules/`);
  assert.equal(rows.size, policies.length);
});
