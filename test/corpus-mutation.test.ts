/**
 * Acceptance against the Gatekeeper library's pod-security mutation samples: every case's mutators
 * become a binding of the matching `mutate-<folder>` policy (parameters read from the mutators), the
 * case's object goes through the real engine as a v1 AdmissionReview CREATE on /mutate, the returned
 * JSONPatch is applied as the API server would, and the result must equal the case's
 * `derivedExpectedObject` (the corpus builder's application of the mutators; the library ships none).
 * The corpus lives in ../shared/corpus beside the checkout (override with TOLLGATE_CORPUS=<dir>).
 */
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { KubeObject } from '../src/admission/types.js';
import { applyPatch } from '../src/engine/apply-patch.js';
import { importPolicies } from '../src/engine/policy-set.js';
import type { CompiledPolicy, Decision } from '../src/engine/types.js';
import { compileRules, evaluateWith, failures, reviewFor } from './corpus/harness.js';
import { bindingFor, type MutationCase, needsNamespace, readMutationCorpus } from './corpus/mutation.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const corpusDir = process.env.TOLLGATE_CORPUS ?? resolve(repoRoot, '../shared/corpus');
const { samples, indexedCases } = readMutationCorpus(corpusDir);

const compiled = await compileRules(resolve(repoRoot, 'rules'));
const loaded = await importPolicies(compiled);
const byName = new Map<string, CompiledPolicy>(loaded.map((p, i) => [p.name, compiled[i]!]));

/** The namespace a Namespaced-scope case is admitted into (the case notes assume one). */
const NAMESPACE = 'default';

/** The object after the decision's patch (the object itself when there is none). */
function patched(object: KubeObject, d: Decision): unknown {
  const { patch, patchType } = d.response;
  if (patch === undefined) return object;
  assert.equal(patchType, 'JSONPatch');
  return applyPatch(object, JSON.parse(Buffer.from(patch, 'base64').toString('utf8')));
}

async function mutate(policy: CompiledPolicy, binding: unknown, c: MutationCase, namespace?: string) {
  const review = reviewFor({ object: c.object, operation: c.operation, namespace });
  const { decision } = await evaluateWith(policy, [binding], [], review, 'mutate');
  assert.deepEqual(failures(decision), [], c.name);
  assert.equal(decision.response.allowed, true, c.name);
  return decision;
}

let asserted = 0;

describe('Gatekeeper library mutation samples', () => {
  after(() => {
    process.stdout.write(`corpus-mutation: ${asserted}/${indexedCases} cases asserted\n`);
  });

  if (samples.length === 0) {
    it('corpus', { skip: `no mutation corpus at ${corpusDir} (set TOLLGATE_CORPUS)` }, () => {});
    return;
  }

  it('the index lists 6 sample folders and 16 cases, each with its expected object', () => {
    assert.equal(samples.length, 6);
    assert.equal(indexedCases, 16);
    assert.equal(
      samples.reduce((n, s) => n + s.cases.length, 0),
      indexedCases,
    );
    for (const s of samples) for (const c of s.cases) assert.ok(c.derivedExpectedObject, c.name);
  });

  for (const sample of samples) {
    describe(sample.policy, () => {
      for (const c of sample.cases) {
        it(c.name, async () => {
          const { policy, binding } = bindingFor(sample, c);
          const compiledPolicy = byName.get(policy);
          assert.ok(compiledPolicy !== undefined, `no policy ${policy} in rules/`);
          const namespace = c.object.metadata?.namespace ?? (needsNamespace(c) ? NAMESPACE : undefined);
          const decision = await mutate(compiledPolicy, binding, c, namespace);
          assert.deepEqual(patched(c.object, decision), c.derivedExpectedObject, c.name);
          // Nothing to change means no patch at all, not an empty or no-op one.
          if (JSON.stringify(c.object) === JSON.stringify(c.derivedExpectedObject))
            assert.equal(decision.response.patch, undefined, `${c.name}: patch for an unchanged object`);
          asserted++;
        });
        if (needsNamespace(c) && c.object.metadata?.namespace === undefined) {
          // Gatekeeper's own behaviour without a namespace, which the derived result does not cover.
          it(`${c.name}: without a namespace a Namespaced-scope mutator leaves the pod alone`, async () => {
            const { policy, binding } = bindingFor(sample, c);
            const decision = await mutate(byName.get(policy)!, binding, c);
            assert.equal(decision.response.patch, undefined);
          });
        }
      }
    });
  }

  it('every case was asserted', { skip: samples.length === 0 }, () => {
    assert.equal(asserted, indexedCases);
  });
});
