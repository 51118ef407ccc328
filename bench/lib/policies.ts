// The policy sets every contestant runs, written side by side so they stay equivalent:
//  - "seed": one binding of the seed image rule (images must come from 192.168.64.1, no `:latest`),
//    as a Tollgate Binding and as the Rego `system.main` policy OPA serves as an admission controller;
//  - "fifty": 50 bindings of that rule with different match blocks (all Pods, namespace lists, excluded
//    namespaces, label selectors, match expressions, and some that do not apply to the benchmark Pod) and
//    registry parameters, and the same 50 as Rego rules;
//  - "podsecurity": 50 bindings of the Pod-security checks in rules/ (Gatekeeper library ports), cycling
//    through the same match blocks, with the parameters of each policy's own test suite. Tollgate only:
//    the Gatekeeper library's Rego needs Gatekeeper's framework (input.review, input.parameters).
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REGISTRY } from '../bodies/generate.js';

export type PolicyVariant = 'seed' | 'fifty' | 'podsecurity';

export interface PolicyFiles {
  /** rules/ directory holding only the policies the bindings use. */
  readonly rules: string;
  /** Binding file for Tollgate (inline and serve). */
  readonly bindings: string;
  /** Rego policy for OPA (none for the pod-security set: see podSecurityFiles). */
  readonly rego: string | undefined;
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
  if (variant === 'podsecurity') return podSecurityFiles(dir, repoRoot);
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

/**
 * Pod-security checks from rules/, with parameters adjusted so that the benchmark Pod passes where the
 * suite's example values would reject it for reasons unrelated to security (its registry, its limits).
 */
const POD_SECURITY: readonly { policy: string; parameters?: Record<string, unknown> }[] = [
  { policy: 'allow-privilege-escalation' },
  { policy: 'capabilities' },
  { policy: 'host-namespaces' },
  { policy: 'host-network-ports' },
  { policy: 'host-filesystem' },
  { policy: 'privileged-containers' },
  { policy: 'proc-mount' },
  { policy: 'read-only-root-filesystem' },
  { policy: 'seccomp' },
  { policy: 'selinux' },
  { policy: 'apparmor' },
  { policy: 'volume-types' },
  { policy: 'flexvolume-drivers' },
  { policy: 'forbidden-sysctls' },
  { policy: 'allowed-users' },
  { policy: 'host-process' },
  { policy: 'container-limits', parameters: { cpu: '1', memory: '1Gi' } },
  { policy: 'disallowed-tags' },
  { policy: 'trusted-registry', parameters: { registries: [`${REGISTRY}:5000`] } },
  { policy: 'seed-image-check', parameters: { registry: REGISTRY } },
];

function suiteParameters(repoRoot: string, policy: string): Record<string, unknown> {
  const file = join(repoRoot, 'rules', policy, 'policy.test.yaml');
  if (!existsSync(file)) return {};
  const suite = parse(readFileSync(file, 'utf8')) as {
    binding?: { parameters?: Record<string, unknown> };
  } | null;
  return suite?.binding?.parameters ?? {};
}

function podSecurityFiles(dir: string, repoRoot: string): PolicyFiles {
  const rules = join(dir, 'rules');
  const available = POD_SECURITY.filter((p) => existsSync(join(repoRoot, 'rules', p.policy)));
  if (available.length === 0) throw new Error('no pod-security policies found under rules/');
  for (const p of available)
    cpSync(join(repoRoot, 'rules', p.policy), join(rules, p.policy), { recursive: true });
  // Shared helpers of the Gatekeeper ports (rules/_lib) travel with them.
  if (existsSync(join(repoRoot, 'rules', '_lib')))
    cpSync(join(repoRoot, 'rules', '_lib'), join(rules, '_lib'), { recursive: true });
  const matches = fiftyDefs().map((d) => d.match);
  const docs: string[] = [];
  let applying = 0;
  for (let i = 0; i < 50; i++) {
    const p = available[i % available.length]!;
    const match = matches[i]!;
    if (appliesToBenchPod(match)) applying++;
    const spec: Record<string, unknown> = {
      policy: p.policy,
      parameters: p.parameters ?? suiteParameters(repoRoot, p.policy),
      enforcementAction: 'deny',
      ...(matchObject(match) ? { match: matchObject(match) } : {}),
    };
    docs.push(
      JSON.stringify({
        apiVersion: 'tollgate.dev/v1alpha1',
        kind: 'Binding',
        metadata: { name: `${p.policy}-${String(i).padStart(2, '0')}` },
        spec,
      }),
    );
  }
  const bindings = join(dir, 'podsecurity-bindings.yaml');
  // JSON is YAML: one document per binding.
  writeFileSync(bindings, `${docs.join('\n---\n')}\n`);
  return { rules, bindings, rego: undefined, bindingCount: 50, applying };
}

function matchObject(m: Match): Record<string, unknown> | undefined {
  switch (m.kind) {
    case 'all':
      return undefined;
    case 'namespaces':
      return { namespaces: m.values };
    case 'excluded':
      return { excludedNamespaces: m.values };
    case 'labels':
      return { labelSelector: { matchLabels: m.labels } };
    case 'expression':
      return { labelSelector: { matchExpressions: [{ key: m.key, operator: 'In', values: m.values }] } };
  }
}
