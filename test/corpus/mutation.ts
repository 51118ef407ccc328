/**
 * The Gatekeeper library's mutation samples (`../shared/corpus/gatekeeper-library-mutation/*.json`): their
 * types, and the translation of a case's Assign/ModifySet mutators into a binding of the `mutate-<folder>`
 * policy, with parameters read from the mutators (see the corpus README's mutation section).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../../src/admission/types.js';

export interface Mutator {
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly spec: {
    readonly applyTo?: readonly { groups?: string[]; kinds?: string[]; versions?: string[] }[];
    readonly match?: Record<string, unknown>;
    readonly location: string;
    readonly parameters?: {
      readonly pathTests?: readonly { subPath: string; condition: string }[];
      readonly assign?: { readonly value?: unknown };
      readonly operation?: string;
      readonly values?: { readonly fromList?: readonly unknown[] };
    };
  };
}

export interface MutationCase {
  readonly name: string;
  readonly mutatorsFile: string;
  readonly mutators: readonly Mutator[];
  readonly object: KubeObject;
  readonly operation: 'CREATE' | 'UPDATE';
  readonly derivedExpectedObject: KubeObject;
  readonly notes: readonly string[];
}

export interface MutationSample {
  /** The library folder (`allow-privilege-escalation`). */
  readonly policy: string;
  readonly cases: readonly MutationCase[];
}

/** `index-mutation.json` plus each sample file it lists, in its order; [] when the corpus is absent. */
export function readMutationCorpus(dir: string): { samples: MutationSample[]; indexedCases: number } {
  const index = join(dir, 'index-mutation.json');
  if (!existsSync(index)) return { samples: [], indexedCases: 0 };
  const entries = JSON.parse(readFileSync(index, 'utf8')) as { file: string; cases: number }[];
  return {
    samples: entries.map((e) => JSON.parse(readFileSync(join(dir, e.file), 'utf8')) as MutationSample),
    indexedCases: entries.reduce((n, e) => n + e.cases, 0),
  };
}

/** What one mutator does, read from its location, path tests and parameters. */
export interface MutatorEffect {
  readonly kind: 'Assign' | 'ModifySet';
  /** `spec.<list>[name:*].securityContext.<field>` (a container list) or `spec.securityContext.<field>` (the pod). */
  readonly target: { readonly list: string; readonly field: string } | { readonly pod: string };
  /** The Assign value, or the ModifySet `fromList`. */
  readonly value: unknown;
  /** A `MustNotExist` path test on the location itself: a present field is kept. */
  readonly mustNotExist: boolean;
  /** ModifySet only: `merge` or `prune`. */
  readonly operation?: string;
}

const CONTAINER_LOCATION =
  /^spec\.(containers|initContainers|ephemeralContainers)\[name:\*\]\.securityContext\.(.+)$/;
const POD_LOCATION = /^spec\.securityContext\.([A-Za-z]+)$/;

/** Read one mutator; throws on anything the mutate-* policies cannot express (a test failure). */
export function effectOf(m: Mutator): MutatorEffect {
  const where = `${m.kind} ${m.metadata.name}`;
  for (const a of m.spec.applyTo ?? []) {
    if (!(a.kinds ?? []).every((k) => k === 'Pod'))
      throw new Error(`${where}: applyTo ${JSON.stringify(a)} names a kind other than Pod`);
  }
  const loc = m.spec.location;
  const c = CONTAINER_LOCATION.exec(loc);
  const p = POD_LOCATION.exec(loc);
  if (c === null && p === null) throw new Error(`${where}: location ${loc} is not a pod security field`);
  const target = c !== null ? { list: c[1]!, field: c[2]! } : { pod: p![1]! };
  const tests = m.spec.parameters?.pathTests ?? [];
  for (const t of tests) {
    if (t.subPath !== loc || t.condition !== 'MustNotExist')
      throw new Error(`${where}: path test ${JSON.stringify(t)} is not MustNotExist on the location`);
  }
  const mustNotExist = tests.length > 0;
  if (m.kind === 'Assign') {
    return { kind: 'Assign', target, value: m.spec.parameters?.assign?.value, mustNotExist };
  }
  if (m.kind === 'ModifySet') {
    const operation = m.spec.parameters?.operation ?? 'merge';
    return {
      kind: 'ModifySet',
      target,
      value: m.spec.parameters?.values?.fromList ?? [],
      mustNotExist,
      operation,
    };
  }
  throw new Error(`${where}: mutator kind ${m.kind} is not ported`);
}

/** The one value every effect agrees on (the mutators of a sample set one value per field). */
function agreed<T>(what: string, values: readonly T[]): T {
  const first = values[0];
  if (values.length === 0 || values.some((v) => JSON.stringify(v) !== JSON.stringify(first)))
    throw new Error(`the mutators disagree on ${what}: ${JSON.stringify(values)}`);
  return first as T;
}

/** The container lists the effects walk, in the order the mutators name them. */
function listsOf(effects: readonly MutatorEffect[]): string[] {
  return [...new Set(effects.flatMap((e) => ('list' in e.target ? [e.target.list] : [])))];
}

const fieldOf = (e: MutatorEffect): string => ('list' in e.target ? e.target.field : e.target.pod);

/** Container-level Assign defaults of one field (allow-privilege-escalation, read-only-root-filesystem, selinux). */
function containerDefault(field: string, effects: readonly MutatorEffect[]): Record<string, unknown> {
  agreed('the field', [field, ...effects.map(fieldOf)]);
  if (effects.some((e) => e.kind !== 'Assign' || !('list' in e.target)))
    throw new Error(`only container-level Assign mutators set ${field}`);
  return {
    [field]: agreed(
      'the value',
      effects.map((e) => e.value),
    ),
    containerTypes: listsOf(effects),
    overwrite: !agreed(
      'MustNotExist',
      effects.map((e) => e.mustNotExist),
    ),
  };
}

const USER_CONTAINER_FIELDS = ['runAsUser', 'runAsGroup', 'runAsNonRoot'];
const USER_POD_FIELDS = ['fsGroup', 'supplementalGroups'];

/** Per sample folder: the binding parameters of the `mutate-<folder>` policy for a case's mutators. */
const TRANSLATE: Record<string, (effects: readonly MutatorEffect[]) => Record<string, unknown>> = {
  'allow-privilege-escalation': (effects) => containerDefault('allowPrivilegeEscalation', effects),
  'read-only-root-filesystem': (effects) => containerDefault('readOnlyRootFilesystem', effects),
  selinux: (effects) => containerDefault('seLinuxOptions', effects),
  seccomp: (effects) => {
    agreed('the field', [
      'pod:seccompProfile',
      ...effects.map((e) => ('pod' in e.target ? `pod:${e.target.pod}` : '')),
    ]);
    return {
      seccompProfile: agreed(
        'the value',
        effects.map((e) => e.value),
      ),
      overwrite: !agreed(
        'MustNotExist',
        effects.map((e) => e.mustNotExist),
      ),
    };
  },
  capabilities: (effects) => {
    agreed('the field', ['capabilities.add', ...effects.map(fieldOf)]);
    const e = agreed(
      'the mutator',
      effects.map((x) => ({ kind: x.kind, op: x.operation, must: x.mustNotExist })),
    );
    // mode replace is an Assign without path tests; merge is ModifySet merge. Others have no counterpart.
    if (e.must || (e.kind === 'ModifySet' && e.op !== 'merge'))
      throw new Error(`mutate-capabilities has no mode for ${JSON.stringify(e)}`);
    return {
      add: agreed(
        'the value',
        effects.map((x) => x.value),
      ),
      mode: e.kind === 'Assign' ? 'replace' : 'merge',
      containerTypes: listsOf(effects),
    };
  },
  users: (effects) => {
    // Every field the mutators do not name is turned off (null): each sample file sets one field.
    const params: Record<string, unknown> = {};
    for (const f of [...USER_CONTAINER_FIELDS, ...USER_POD_FIELDS]) {
      const named = effects.filter((e) => fieldOf(e) === f);
      const level = USER_CONTAINER_FIELDS.includes(f) ? 'list' : 'pod';
      if (named.some((e) => e.kind !== 'Assign' || !(level in e.target)))
        throw new Error(`${f}: only ${level}-level Assign mutators are ported`);
      params[f] =
        named.length === 0
          ? null
          : agreed(
              `the value of ${f}`,
              named.map((e) => e.value),
            );
    }
    const unknown = effects.map(fieldOf).filter((f) => !(f in params));
    if (unknown.length > 0) throw new Error(`mutate-users does not set ${unknown.join(', ')}`);
    const lists = listsOf(effects);
    return {
      ...params,
      ...(lists.length > 0 ? { containerTypes: lists } : {}),
      overwrite: !agreed(
        'MustNotExist',
        effects.map((e) => e.mustNotExist),
      ),
    };
  },
};

/** The binding (a Tollgate Binding document) that stands for a case's mutators, and its policy. */
export function bindingFor(
  sample: MutationSample,
  c: MutationCase,
): { policy: string; binding: Record<string, unknown> } {
  const translate = TRANSLATE[sample.policy];
  if (translate === undefined) throw new Error(`no translation for the mutation sample ${sample.policy}`);
  const policy = `mutate-${sample.policy}`;
  const parameters = translate(c.mutators.map(effectOf));
  const match = agreed(
    'match',
    c.mutators.map((m) => m.spec.match ?? null),
  );
  return {
    policy,
    binding: {
      apiVersion: 'tollgate.dev/v1alpha1',
      kind: 'Binding',
      metadata: { name: c.mutators[0]!.metadata.name.toLowerCase() },
      spec: { policy, parameters, ...(match !== null ? { match } : {}) },
    },
  };
}

/** A mutator matching only namespaced objects (`match.scope: Namespaced`) needs the review to name one. */
export function needsNamespace(c: MutationCase): boolean {
  return c.mutators.some((m) => m.spec.match?.scope === 'Namespaced');
}
