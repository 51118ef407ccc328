/**
 * The Gatekeeper library corpus (`../shared/corpus/gatekeeper-library/*.json`): its types, the constraint
 * and review built from a case, and gator's assertion semantics (see the corpus README).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject, Operation } from '../../src/admission/types.js';
import type { Decision } from '../../src/engine/types.js';
import { allViolations, failures, reviewFor } from './harness.js';

export interface CorpusAssertion {
  /** `yes` (at least one), `no` (none) or an exact count; gator's default is `yes`. */
  readonly violations: 'yes' | 'no' | number | null;
  /** A Go regular expression tested (unanchored) against each violation message. */
  readonly message: string | null;
}

export interface CorpusCase {
  readonly name: string;
  readonly constraintName: string;
  readonly match: Record<string, unknown> | null;
  readonly enforcementAction: string;
  readonly parameters: Record<string, unknown>;
  readonly object: KubeObject;
  readonly oldObject: KubeObject | null;
  readonly operation: Operation;
  readonly inventory: readonly KubeObject[];
  readonly expect: {
    readonly allowed: boolean;
    readonly violations: number | null;
    readonly messageContains: readonly string[];
    readonly messageNotContains?: readonly string[];
  };
  readonly assertions: readonly CorpusAssertion[];
  readonly expectSource: string;
}

export interface CorpusPolicy {
  /** The library folder (`allowedrepos`). */
  readonly folder: string;
  /** The constraint kind (`K8sAllowedRepos`). */
  readonly policy: string;
  readonly features: readonly string[];
  readonly parametersSchema: unknown;
  readonly cases: readonly CorpusCase[];
}

/** Every validation policy file of the corpus, sorted by folder; [] when the directory is absent. */
export function readCorpus(dir: string): CorpusPolicy[] {
  const lib = join(dir, 'gatekeeper-library');
  if (!existsSync(lib)) return [];
  return readdirSync(lib)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const raw = JSON.parse(readFileSync(join(lib, f), 'utf8')) as Omit<CorpusPolicy, 'folder'>;
      return { ...raw, folder: f.slice(0, -'.json'.length) };
    });
}

/** The Gatekeeper constraint a case describes, accepted by Tollgate unchanged. */
export function constraintFor(policy: CorpusPolicy, c: CorpusCase): Record<string, unknown> {
  return {
    apiVersion: 'constraints.gatekeeper.sh/v1beta1',
    kind: policy.policy,
    metadata: { name: c.constraintName },
    spec: {
      ...(c.match !== null ? { match: c.match } : {}),
      parameters: c.parameters,
      enforcementAction: c.enforcementAction,
    },
  };
}

/** The AdmissionReview for a case: its operation, the object's namespace, the old object if any. */
export function caseReview(c: CorpusCase): Record<string, unknown> {
  return reviewFor({
    object: c.object,
    oldObject: c.oldObject,
    operation: c.operation,
    namespace: c.object.metadata?.namespace,
  });
}

/**
 * Check a decision against a case, as gator does: each assertion counts the violations whose message
 * matches its regular expression (all of them without one). Also checks the summary `expect` block.
 * Returns the problems found (empty: the case passes). Policy failures are always problems.
 */
export function checkCase(c: CorpusCase, d: Decision): string[] {
  const problems: string[] = [];
  for (const f of failures(d)) problems.push(`policy failed: ${f}`);
  const messages = allViolations(d).map((v) => v.message);
  for (const a of c.assertions) {
    const re = a.message === null ? undefined : new RegExp(a.message);
    const n = re === undefined ? messages.length : messages.filter((m) => re.test(m)).length;
    const want = a.violations ?? 'yes';
    const ok = want === 'yes' ? n > 0 : want === 'no' ? n === 0 : n === want;
    if (!ok) {
      const about = a.message === null ? 'violations' : `violations matching /${a.message}/`;
      problems.push(`expected ${want} ${about}, got ${n}`);
    }
  }
  if (c.expect.allowed !== (messages.length === 0)) {
    problems.push(`expected ${c.expect.allowed ? 'no violations' : 'violations'}, got ${messages.length}`);
  }
  if (c.expect.violations !== null && c.expect.violations !== messages.length) {
    problems.push(`expected exactly ${c.expect.violations} violations, got ${messages.length}`);
  }
  for (const s of c.expect.messageContains) {
    if (!messages.some((m) => m.includes(s)))
      problems.push(`no violation message contains ${JSON.stringify(s)}`);
  }
  for (const s of c.expect.messageNotContains ?? []) {
    if (messages.some((m) => m.includes(s)))
      problems.push(`a violation message contains ${JSON.stringify(s)}`);
  }
  if (problems.length > 0) problems.push(`messages: ${JSON.stringify(messages)}`);
  return problems;
}

/** A Pod as the pod template of a Deployment in the same namespace (for autogen checks). */
export function asDeployment(pod: KubeObject): KubeObject {
  const { name, namespace, ...templateMeta } = pod.metadata ?? {};
  const metadata: NonNullable<KubeObject['metadata']> = { name: `${name ?? 'pod'}-deployment` };
  if (typeof namespace === 'string') metadata.namespace = namespace;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'corpus' } },
      template: { metadata: templateMeta, spec: pod.spec },
    },
  };
}
