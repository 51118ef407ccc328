/**
 * Acceptance against the Gatekeeper policy library: every corpus case of every Gatekeeper kind that a
 * shipped policy names (as its name or an alias) is evaluated through the real engine, as a constraint
 * document plus an AdmissionReview, and checked with gator's semantics. Kinds without a Tollgate policy
 * are reported as skipped. A summary table and one JSON line (`# tollgate-corpus-summary {...}`) are
 * printed; set TOLLGATE_CORPUS_SUMMARY=<file> to also write the JSON to a file.
 * The corpus lives in ../shared/corpus beside the checkout (override with TOLLGATE_CORPUS=<dir>).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { importPolicies } from '../src/engine/policy-set.js';
import type { CompiledPolicy } from '../src/engine/types.js';
import { asDeployment, caseReview, checkCase, constraintFor, readCorpus } from './corpus/corpus.js';
import { allViolations, compileRules, evaluateWith, failures } from './corpus/harness.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const corpusDir = process.env.TOLLGATE_CORPUS ?? resolve(repoRoot, '../shared/corpus');
const corpus = readCorpus(corpusDir);

const compiled = await compileRules(resolve(repoRoot, 'rules'));
const loaded = await importPolicies(compiled);
/** Lower-cased policy name or alias → the compiled policy that declares it. */
const byName = new Map<string, { compiled: CompiledPolicy; name: string; autogen: boolean }>();
loaded.forEach((p, i) => {
  for (const n of [p.name, ...p.aliases])
    byName.set(n.toLowerCase(), { compiled: compiled[i]!, name: p.name, autogen: p.autogen });
});

interface Row {
  folder: string;
  kind: string;
  policy: string | null;
  cases: number;
  passed: number;
  failed: number;
  informational: number;
  skipped: number;
  failures: string[];
}
const rows: Row[] = [];

function table(rs: readonly Row[]): string {
  const head = ['folder', 'kind', 'tollgate policy', 'cases', 'passed', 'failed', 'info', 'skipped'];
  const body = rs.map((r) =>
    [r.folder, r.kind, r.policy ?? '-', r.cases, r.passed, r.failed, r.informational, r.skipped].map(String),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

describe('Gatekeeper library corpus', () => {
  after(() => {
    const ported = rows.filter((r) => r.policy !== null);
    const totals = {
      policies: rows.length,
      ported: ported.length,
      fullyPassing: ported.filter((r) => r.failed === 0).length,
      cases: rows.reduce((s, r) => s + r.cases, 0),
      casesRun: ported.reduce((s, r) => s + r.passed + r.failed, 0),
      passed: ported.reduce((s, r) => s + r.passed, 0),
      failed: ported.reduce((s, r) => s + r.failed, 0),
      informational: ported.reduce((s, r) => s + r.informational, 0),
      skipped: rows.reduce((s, r) => s + r.skipped, 0),
    };
    const summary = { corpus: corpusDir, totals, policies: rows };
    process.stdout.write(`\n${table(rows)}\n\n`);
    process.stdout.write(
      `corpus: ${totals.ported}/${totals.policies} policies ported, ${totals.passed}/${totals.casesRun} cases passed, ${totals.skipped} skipped\n`,
    );
    process.stdout.write(
      `# tollgate-corpus-summary ${JSON.stringify({ totals, policies: rows.map(({ failures: _, ...r }) => r) })}\n`,
    );
    if (process.env.TOLLGATE_CORPUS_SUMMARY)
      writeFileSync(process.env.TOLLGATE_CORPUS_SUMMARY, `${JSON.stringify(summary, null, 2)}\n`);
  });

  if (corpus.length === 0) {
    it('corpus', { skip: `no corpus at ${corpusDir} (set TOLLGATE_CORPUS)` }, () => {});
    return;
  }

  for (const p of corpus) {
    const target = byName.get(p.policy.toLowerCase());
    const row: Row = {
      folder: p.folder,
      kind: p.policy,
      policy: target?.name ?? null,
      cases: p.cases.length,
      passed: 0,
      failed: 0,
      informational: 0,
      skipped: 0,
      failures: [],
    };
    rows.push(row);
    if (target === undefined) {
      row.skipped = p.cases.length;
      it(`${p.policy} (${p.folder})`, {
        skip: `no policy in rules/ is named or aliased ${p.policy}`,
      }, () => {});
      continue;
    }
    it(`${p.policy} (${p.folder}) → ${target.name}`, async (t) => {
      for (const c of p.cases) {
        const informational = c.expectSource !== 'suite';
        // Cases whose expectation was inferred by the corpus builder run, but cannot fail the suite.
        const opts = informational ? { todo: `expectation ${c.expectSource}, not asserted upstream` } : {};
        await t.test(c.name, opts, async () => {
          const { decision } = await evaluateWith(
            target.compiled,
            [constraintFor(p, c)],
            c.inventory,
            caseReview(c),
          );
          const problems = checkCase(c, decision);
          if (informational) row.informational++;
          else if (problems.length === 0) row.passed++;
          else {
            row.failed++;
            row.failures.push(c.name);
          }
          assert.deepEqual(problems, [], `${p.folder} ${c.name}`);
        });
      }
    });
  }
});

/**
 * Autogen parity (Tollgate's own property, not gator's): a constraint on Pods also covers the pod
 * templates of workloads, so every Pod case of an autogen policy, wrapped in a Deployment, must get the
 * same number of violations, each with a path under `spec.template`.
 */
describe('Gatekeeper library corpus: the same pods as Deployments (autogen)', () => {
  for (const p of corpus) {
    const target = byName.get(p.policy.toLowerCase());
    const podCases = p.cases.filter((c) => c.object.kind === 'Pod' && c.expectSource === 'suite');
    if (target === undefined || !target.autogen || podCases.length === 0) continue;
    it(`${p.policy} → ${target.name}`, async () => {
      for (const c of podCases) {
        const constraint = [constraintFor(p, c)];
        const asPod = await evaluateWith(target.compiled, constraint, c.inventory, caseReview(c));
        const wrapped = { ...c, object: asDeployment(c.object) };
        const asWorkload = await evaluateWith(target.compiled, constraint, c.inventory, caseReview(wrapped));
        assert.deepEqual(failures(asWorkload.decision), [], c.name);
        const pod = allViolations(asPod.decision);
        const workload = allViolations(asWorkload.decision);
        assert.equal(
          workload.length,
          pod.length,
          `${c.name}: ${JSON.stringify(workload.map((v) => v.message))}`,
        );
        for (const v of workload) {
          if (v.path !== undefined) assert.match(v.path, /^spec\.template\./, `${c.name}: ${v.path}`);
        }
      }
    });
  }
});
