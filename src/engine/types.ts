import type { AdmissionResponse, KubeObject, Operation } from '../admission/types.js';
import type { ErrorCode } from '../errors.js';
import type { JsonSchema, PolicyMatch, PolicySpec } from '../sdk/types.js';

export type EnforcementAction = 'deny' | 'warn' | 'dryrun';
export const ENFORCEMENT_ACTIONS: readonly EnforcementAction[] = ['deny', 'warn', 'dryrun'];
export type FailurePolicy = 'deny' | 'allow';
export const FAILURE_POLICIES: readonly FailurePolicy[] = ['deny', 'allow'];

/** Where a document came from, for error messages: file, document index (0-based) and line. */
export interface SourceLocation {
  readonly file: string;
  readonly doc: number;
  readonly line: number;
}

/** A parsed YAML/JSON document with its location (plain data: crosses threads). */
export interface SourceDocument {
  readonly location: SourceLocation;
  readonly value: unknown;
}

/** A policy compiled by esbuild to one ESM file with an inline source map (plain data). */
export interface CompiledPolicy {
  /** Directory name under rules/ (the default policy name). */
  readonly dir: string;
  /** The entry file, relative to the current directory (`rules/x/index.ts`), for messages. */
  readonly source: string;
  /** Absolute path of the bundle to import. */
  readonly bundle: string;
}

/** Everything needed to build a policy set, as plain data, so a thread can build its own copy. */
export interface PolicySetSource {
  readonly policies: readonly CompiledPolicy[];
  readonly bindings: readonly SourceDocument[];
  readonly data: readonly SourceDocument[];
}

export interface LoadedPolicy {
  readonly name: string;
  readonly description: string;
  readonly aliases: readonly string[];
  readonly parameters: JsonSchema | undefined;
  readonly match: Required<PolicyMatch>;
  readonly autogen: boolean;
  readonly timeoutMs: number | undefined;
  readonly validate: PolicySpec['validate'];
  readonly mutate: PolicySpec['mutate'];
  readonly source: string;
}

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  readonly values?: readonly string[];
}

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

/** Gatekeeper's match block plus Tollgate's operations/users/groups. */
export interface MatchSpec {
  readonly kinds?: readonly { readonly apiGroups?: readonly string[]; readonly kinds?: readonly string[] }[];
  readonly namespaces?: readonly string[];
  readonly excludedNamespaces?: readonly string[];
  readonly labelSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly scope?: '*' | 'Cluster' | 'Namespaced';
  readonly name?: string;
  readonly operations?: readonly Operation[];
  readonly users?: readonly string[];
  readonly groups?: readonly string[];
}

/** A binding after parsing, before instantiation (plain data). */
export interface BindingSpec {
  readonly name: string;
  readonly policy: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly match: MatchSpec | undefined;
  readonly enforcementAction: EnforcementAction;
  readonly failurePolicy: FailurePolicy;
  readonly timeoutMs: number | undefined;
  readonly location: SourceLocation;
}

/** The outcome of one binding on one request. */
/** `mutated`: a mutating binding changed the object. */
export type EvaluationOutcome = 'allow' | 'deny' | 'warn' | 'dryrun' | 'error' | 'timeout' | 'mutated';

export interface ViolationRecord {
  readonly message: string;
  readonly path?: string;
}

export interface EvaluationRecord {
  readonly binding: string;
  readonly policy: string;
  readonly action: EnforcementAction;
  readonly failurePolicy: FailurePolicy;
  readonly outcome: EvaluationOutcome;
  readonly violations: readonly ViolationRecord[];
  readonly warnings?: readonly string[];
  /** Set when the policy failed (threw, bad result, timeout): the code and a message naming the source line. */
  readonly error?: { readonly code: ErrorCode; readonly message: string };
  readonly durationNs: number;
}

/** What the engine decided for one request: the response and a summary for logs and metrics. */
export interface Decision {
  readonly response: AdmissionResponse;
  readonly uid: string;
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly operation: Operation;
  readonly evaluations: readonly EvaluationRecord[];
  /** The patched object, for mutate requests that changed something (CLI use). */
  readonly patched?: KubeObject;
}
