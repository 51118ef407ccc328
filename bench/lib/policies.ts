// The policy sets every contestant runs, written side by side so they stay equivalent:
//  - "seed": one binding of the seed image rule (images must come from 192.168.64.1, no `:latest`),
//    as a Tollgate Binding and as the Rego `system.main` policy OPA serves as an admission controller;
//  - "fifty": 50 bindings of that rule with different match blocks (all Pods, namespace lists, excluded
//    namespaces, label selectors, match expressions, and some that do not apply to the benchmark Pod) and
//    registry parameters, and the same 50 as Rego rules.
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REGISTRY } from '../bodies/generate.js';

export type PolicyVariant = 'seed' | 'fifty';

export interface PolicyFiles {
  /** rules/ directory holding only the policies the bindings use. */
  readonly rules: string;
  /** Binding file for Tollgate (inline and serve). */
  readonly bindings: string;
  /** Rego policy for OPA. */
  readonly rego: string;
  readonly bindingCount: number;
  /** Bindings that apply to the benchmark Pod (the others are skipped by matching). */
  readonly applying: number;
}

type Match =
  | { kind: 'all' }
  | { kind: 'namespaces'; values: string[] }
  | { kind: 'excluded'; values: string[] }
  | { kind: 'labels'; labels: Record<string, string> }
  | { kind: 'expression'; key: string; values: string[] };

interface BindingDef {
  name: string;
  registry: string;
  match: Match;
}

function fiftyDefs(): BindingDef[] {
  const registries = [REGISTRY, `${REGISTRY}:5000`, `${REGISTRY}:5000/team`];
  return Array.from({ length: 50 }, (_, i): BindingDef => {
    const variants: Match[] = [
      { kind: 'all' },
      { kind: 'namespaces', values: ['default', `team-${i}`] },
      { kind: 'excluded', values: ['kube-system', `team-${i}`] },
      { kind: 'labels', labels: { app: 'bench' } },
      // Does not apply to the benchmark Pod (namespace `default`): matching must skip it cheaply.
      { kind: 'namespaces', values: [`team-${i}`, `team-${i}-canary`] },
      { kind: 'all' },
      { kind: 'namespaces', values: ['default', 'prod-*'] },
      { kind: 'excluded', values: ['kube-*'] },
      { kind: 'expression', key: 'tier', values: ['web', 'api'] },
      { kind: 'labels', labels: { app: `other-${i}` } },
    ];
    return {
      name: `image-check-${String(i).padStart(2, '0')}`,
      registry: registries[i % 3]!,
      match: variants[i % 10]!,
    };
  });
}

function appliesToBenchPod(m: Match): boolean {
  switch (m.kind) {
    case 'all':
      return true;
    case 'namespaces':
      return m.values.some((v) => v === 'default' || v === '*');
    case 'excluded':
      return true;
    case 'labels':
      return m.labels.app === 'bench';
    case 'expression':
      return m.values.includes('web');
  }
}

function bindingYaml(d: BindingDef): string {
  const match = (() => {
    switch (d.match.kind) {
      case 'all':
        return '';
      case 'namespaces':
        return `  match:\n    namespaces: ${JSON.stringify(d.match.values)}\n`;
      case 'excluded':
        return `  match:\n    excludedNamespaces: ${JSON.stringify(d.match.values)}\n`;
      case 'labels':
        return `  match:\n    labelSelector:\n      matchLabels: ${JSON.stringify(d.match.labels)}\n`;
      case 'expression':
        return (
          `  match:\n    labelSelector:\n      matchExpressions:\n` +
          `        - { key: ${d.match.key}, operator: In, values: ${JSON.stringify(d.match.values)} }\n`
        );
    }
  })();
  return (
    `apiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata:\n  name: ${d.name}\nspec:\n` +
    `  policy: seed-image-check\n  parameters:\n    registry: ${JSON.stringify(d.registry)}\n` +
    `    forbiddenTagSuffix: ':latest'\n  enforcementAction: deny\n${match}`
  );
}

/** A Rego function true when a namespace matches one of Gatekeeper's `prefix*` / exact patterns. */
function regoNamespaceHelper(patterns: string[]): { name: string; text: string } {
  const name = `ns_match_${Math.abs(hash(patterns.join(',')))}`;
  const test = (p: string) =>
    p.endsWith('*') ? `startswith(ns, ${JSON.stringify(p.slice(0, -1))})` : `ns == ${JSON.stringify(p)}`;
  return { name, text: patterns.map((p) => `${name}(ns) if ${test(p)}`).join('\n') };
}

function hash(s: string): number {
  let h = 7;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}

function regoRules(d: BindingDef): { rules: string; helpers: string } {
  let cond = '';
  let helpers = '';
  const addNs = (patterns: string[], negate: boolean) => {
    const h = regoNamespaceHelper(patterns);
    cond = `\t${negate ? 'not ' : ''}${h.name}(input.request.namespace)\n`;
    helpers = h.text;
  };
  switch (d.match.kind) {
    case 'all':
      break;
    case 'namespaces':
      addNs(d.match.values, false);
      break;
    case 'excluded':
      addNs(d.match.values, true);
      break;
    case 'labels':
      cond = Object.entries(d.match.labels)
        .map(
          ([k, v]) =>
            `\tinput.request.object.metadata.labels[${JSON.stringify(k)}] == ${JSON.stringify(v)}\n`,
        )
        .join('');
      break;
    case 'expression':
      cond = `\tinput.request.object.metadata.labels[${JSON.stringify(d.match.key)}] in ${JSON.stringify(d.match.values).replace('[', '{').replace(']', '}')}\n`;
      break;
  }
  const reg = JSON.stringify(d.registry);
  const rule = (test: string, msg: string) =>
    `deny contains msg if {\n\tpod_create_or_update\n${cond}\tsome c in input.request.object.spec.containers\n` +
    `\t${test}\n\tmsg := sprintf("[${d.name}] %s ${msg}", [c.image])\n}\n`;
  return {
    rules:
      rule(`not startswith(c.image, ${reg})`, `repo not start with ${d.registry}`) +
      rule('endswith(c.image, ":latest")', 'tag end with :latest'),
    helpers,
  };
}

const REGO_HEAD = `# Generated by bench/lib/policies.ts: the seed image rule as OPA serves it as an admission controller.
# POST / evaluates data.system.main with the AdmissionReview as input and answers an AdmissionReview.
package system

main := {
\t"apiVersion": "admission.k8s.io/v1",
\t"kind": "AdmissionReview",
\t"response": response,
}

default uid := ""

uid := input.request.uid

response := {"uid": uid, "allowed": true} if {
\tcount(deny) == 0
} else := {
\t"uid": uid,
\t"allowed": false,
\t"status": {"code": 403, "reason": "Forbidden", "message": concat("; ", sort(deny))},
}

pod_create_or_update if {
\tinput.request.kind.kind == "Pod"
\tinput.request.kind.group == ""
\tinput.request.operation in {"CREATE", "UPDATE"}
}

`;

/** Write the policy files of a variant under `dir`; `repoRoot` is the Tollgate checkout. */
export function writePolicyFiles(variant: PolicyVariant, dir: string, repoRoot: string): PolicyFiles {
  mkdirSync(dir, { recursive: true });
  const rules = join(dir, 'rules');
  cpSync(join(repoRoot, 'rules', 'seed-image-check'), join(rules, 'seed-image-check'), { recursive: true });
  const defs: BindingDef[] =
    variant === 'seed'
      ? [{ name: 'seed-image-check', registry: REGISTRY, match: { kind: 'all' } }]
      : fiftyDefs();
  const bindings = join(dir, `${variant}-bindings.yaml`);
  writeFileSync(bindings, defs.map(bindingYaml).join('---\n'));
  let body = '';
  const helpers = new Set<string>();
  for (const d of defs) {
    const r = regoRules(d);
    body += `${r.rules}\n`;
    for (const h of r.helpers.split('\n')) if (h.trim() !== '') helpers.add(h);
  }
  const rego = join(dir, `${variant}.rego`);
  writeFileSync(rego, `${REGO_HEAD}${body}${[...helpers].join('\n')}\n`);
  return {
    rules,
    bindings,
    rego,
    bindingCount: defs.length,
    applying: defs.filter((d) => appliesToBenchPod(d.match)).length,
  };
}
