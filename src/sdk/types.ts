import type {
  GroupVersionKind,
  GroupVersionResource,
  KubeObject,
  Operation,
  UserInfo,
} from '../admission/types.js';
import type { ImageRef } from './images.js';
import type { ContainerRef, ContainerType, PodSpecRef } from './pod-specs.js';

export type { GroupVersionKind, GroupVersionResource, KubeObject, Operation, UserInfo };

/** A violation: a message, optionally with the offending field path (`spec.initContainers[0].image`). */
export interface Violation {
  readonly message: string;
  readonly path?: string;
}

export type ViolationLike = string | Violation;

/** What `validate` may return. Nothing (or an empty list) means allowed. */
export type ValidateResult =
  | undefined
  | null
  // biome-ignore lint/suspicious/noConfusingVoidType: lets `validate(ctx) { ... }` return nothing at all
  | void
  | ViolationLike
  | readonly ViolationLike[]
  | { readonly violations?: readonly ViolationLike[]; readonly warnings?: readonly string[] };

/** What `mutate` may return: the changed object (a changed copy of ctx.object), or nothing for no change. */
// biome-ignore lint/suspicious/noConfusingVoidType: lets `mutate(ctx) { ... }` change ctx.object and return nothing
export type MutateResult<O extends object = KubeObject> = O | KubeObject | undefined | null | void;

/** The request as a policy sees it. */
export interface RequestInfo {
  readonly uid: string;
  readonly operation: Operation;
  readonly kind: GroupVersionKind;
  readonly resource: GroupVersionResource;
  readonly subResource: string | undefined;
  /**
   * The kind and resource of the user's original request. They differ from `kind`/`resource` when the API
   * server converted the object to the version the webhook registered (matchPolicy: Equivalent).
   */
  readonly requestKind: GroupVersionKind;
  readonly requestResource: GroupVersionResource;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly userInfo: UserInfo;
  readonly dryRun: boolean;
}

/** Cluster objects loaded with `--data` (Namespaces, Ingresses, …), read-only. */
export interface Inventory {
  /** Objects of a kind, optionally in one namespace (apiVersion optional: any version matches). */
  list(kind: string, opts?: { apiVersion?: string; namespace?: string }): readonly KubeObject[];
  /** One object by kind, name and namespace (undefined namespace: cluster-scoped). */
  get(kind: string, name: string, namespace?: string): KubeObject | undefined;
  /** The Namespace object of that name, when loaded. */
  namespace(name: string): KubeObject | undefined;
}

export interface PolicyContext<P = Record<string, unknown>, O extends object = KubeObject> {
  readonly request: RequestInfo;
  /** The object under review (for DELETE this is null; use oldObject). Do not modify it in validate. */
  readonly object: O | null;
  readonly oldObject: O | null;
  /** The binding's parameters, validated against the policy's schema with defaults applied. */
  readonly params: P;
  /** The name of the binding being evaluated. */
  readonly binding: string;
  readonly inventory: Inventory;
  /** All pod specs of the object (a Pod, or a workload's pod template), with field paths. */
  podSpecs(): PodSpecRef[];
  /** All containers of all pod specs, with field paths; filter by type. */
  containers(types?: readonly ContainerType[]): ContainerRef[];
  /** Parse an image reference (registry, repository, tag — `latest` when absent — and digest). */
  parseImage(ref: string): ImageRef;
}

export interface KindSelector {
  readonly apiGroups?: readonly string[];
  readonly kinds?: readonly string[];
}

export interface PolicyMatch {
  readonly kinds?: readonly KindSelector[];
  readonly operations?: readonly Operation[];
}

/** A JSON Schema (draft-07 / OpenAPI v3 subset) for a policy's parameters. */
export type JsonSchema = Readonly<Record<string, unknown>>;

export interface PolicySpec<P = Record<string, unknown>, O extends object = KubeObject> {
  /** Kebab-case name; bindings refer to it. */
  readonly name: string;
  /** One line. */
  readonly description: string;
  /** Other names a binding may use, e.g. the Gatekeeper constraint kind `K8sAllowedRepos`. */
  readonly aliases?: readonly string[];
  /** JSON Schema for the parameters; `default`s are applied. */
  readonly parameters?: JsonSchema;
  /** Default match (kinds and operations); a binding may narrow or replace it. Default: Pods on CREATE/UPDATE. */
  readonly match?: PolicyMatch;
  /**
   * Pod-controller autogen (default true): a policy matching Pods also runs on the pod templates of
   * Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob and ReplicationController, seeing each
   * template as a Pod; field paths in its messages are rewritten to the real ones.
   */
  readonly autogen?: boolean;
  /** Evaluation timeout in ms for this policy (the server bounds it by the request deadline). */
  readonly timeoutMs?: number;
  readonly validate?: (ctx: PolicyContext<P, O>) => ValidateResult | Promise<ValidateResult>;
  readonly mutate?: (ctx: PolicyContext<P, O>) => MutateResult<O> | Promise<MutateResult<O>>;
}

export const POLICY_BRAND: unique symbol = Symbol.for('tollgate.policy');

export type Policy<P = Record<string, unknown>, O extends object = KubeObject> = PolicySpec<P, O> & {
  readonly [POLICY_BRAND]: true;
};
