/**
 * Evaluate one review against one policy through the real engine path (compiled bundle, binding parsing
 * and parameter validation, policy-set index with autogen, decode → evaluate → encode), as the server does.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject, Operation } from '../../src/admission/types.js';
import { compilePolicies } from '../../src/engine/compile.js';
import { type Endpoint, type EngineReply, InlineEngine } from '../../src/engine/engine.js';
import { buildPolicySet, type PolicySet } from '../../src/engine/policy-set.js';
import type { CompiledPolicy, Decision, SourceDocument } from '../../src/engine/types.js';

/** Compile every policy under `rulesDir` once, into a private cache directory. */
export async function compileRules(rulesDir: string): Promise<CompiledPolicy[]> {
  return compilePolicies(rulesDir, { cacheDir: mkdtempSync(join(tmpdir(), 'tollgate-corpus-')) });
}

const doc = (value: unknown, file: string, i: number): SourceDocument => ({
  location: { file, doc: i, line: 1 },
  value,
});

/** The resource name (lower-case plural) for a kind, good enough for reviews built in tests. */
function resourceOf(kind: string): string {
  const k = kind.toLowerCase();
  if (k.endsWith('s')) return `${k}es`;
  if (k.endsWith('y')) return `${k.slice(0, -1)}ies`;
  return `${k}s`;
}

export interface ReviewInput {
  readonly object: KubeObject | null;
  readonly oldObject?: KubeObject | null;
  readonly operation: Operation;
  readonly namespace?: string | undefined;
  readonly userInfo?: { username?: string; groups?: string[] };
  readonly subResource?: string;
}

/** An AdmissionReview v1 for an object, as the API server would send it. */
export function reviewFor(input: ReviewInput): Record<string, unknown> {
  const obj = input.object ?? input.oldObject ?? null;
  const apiVersion = typeof obj?.apiVersion === 'string' ? obj.apiVersion : 'v1';
  const slash = apiVersion.indexOf('/');
  const group = slash >= 0 ? apiVersion.slice(0, slash) : '';
  const version = slash >= 0 ? apiVersion.slice(slash + 1) : apiVersion;
  const kind = typeof obj?.kind === 'string' ? obj.kind : '';
  const namespace = input.namespace ?? obj?.metadata?.namespace;
  const name = obj?.metadata?.name;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group, version, kind },
      resource: { group, version, resource: resourceOf(kind) },
      ...(input.subResource !== undefined ? { subResource: input.subResource } : {}),
      ...(typeof name === 'string' ? { name } : {}),
      ...(typeof namespace === 'string' && namespace !== '' ? { namespace } : {}),
      operation: input.operation,
      userInfo: input.userInfo ?? { username: 'tester', groups: ['system:authenticated'] },
      object: input.operation === 'DELETE' ? null : (input.object ?? null),
      oldObject:
        input.operation === 'DELETE' ? (input.oldObject ?? input.object ?? null) : (input.oldObject ?? null),
      dryRun: false,
    },
  };
}

const sets = new Map<string, Promise<PolicySet>>();

/**
 * One policy set per distinct (policy, bindings, data): cases that share a constraint share its set, as
 * requests share a loaded set in the server. Sets are immutable, so sharing cannot leak state.
 */
function policySetFor(
  policy: CompiledPolicy,
  bindings: readonly unknown[],
  data: readonly unknown[],
): Promise<PolicySet> {
  const key = JSON.stringify([policy.bundle, bindings, data]);
  let set = sets.get(key);
  if (set === undefined) {
    set = buildPolicySet({
      policies: [policy],
      bindings: bindings.map((b, i) => doc(structuredClone(b), 'binding', i)),
      data: data.map((d, i) => doc(structuredClone(d), 'data', i)),
    });
    sets.set(key, set);
  }
  return set;
}

export interface CaseResult {
  readonly reply: EngineReply;
  readonly decision: Decision;
}

/**
 * Build (or reuse) a policy set holding one policy, the given binding documents and inventory, and evaluate the
 * review through InlineEngine (bytes in, bytes out) on the /validate endpoint, or /mutate when asked.
 * Throws on load errors (they are test failures).
 */
export async function evaluateWith(
  policy: CompiledPolicy,
  bindings: readonly unknown[],
  data: readonly unknown[],
  review: Record<string, unknown>,
  endpoint: Endpoint = 'validate',
): Promise<CaseResult> {
  const set = await policySetFor(policy, bindings, data);
  const engine = InlineEngine.fromPolicySet(set);
  const reply = await engine.evaluate({
    body: new TextEncoder().encode(JSON.stringify(review)),
    endpoint,
  });
  await engine.close();
  if (reply.decision === undefined) {
    throw new Error(
      `engine replied ${reply.status} without a decision: ${reply.error?.code ?? ''} ${reply.error?.message ?? reply.body}`,
    );
  }
  return { reply, decision: reply.decision };
}

/** Every violation of every binding, whatever the enforcement action (gator counts them all). */
export function allViolations(d: Decision): { binding: string; message: string; path?: string }[] {
  return d.evaluations.flatMap((e) =>
    e.violations.map((v) => ({
      binding: e.binding,
      message: v.message,
      ...(v.path !== undefined ? { path: v.path } : {}),
    })),
  );
}

/** Evaluation failures (policy threw, timed out, returned garbage), which a test must never hide. */
export function failures(d: Decision): string[] {
  return d.evaluations
    .filter((e) => e.error !== undefined)
    .map((e) => `${e.binding}: ${e.error!.code} ${e.error!.message}`);
}
