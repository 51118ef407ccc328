/**
 * Shared helpers for the mutating ports of Gatekeeper's pod-security mutation samples (Assign and
 * ModifySet mutators). Every helper works in place on the policy's own copy of the object (the engine
 * hands `mutate` a fresh clone, compares it with what came in and computes the patch: nothing here
 * needs to track whether it changed anything).
 */
import {
  CONTAINER_TYPES,
  type ContainerType,
  type JsonSchema,
  type PolicyContext,
  type PolicyMatch,
  type PolicySpec,
} from 'tollgate/sdk';
import { isRecord } from './gatekeeper.js';

/**
 * Where the pod mutation policies run: Pods on CREATE (a pod's security fields cannot change after
 * creation), without autogen, like Gatekeeper's samples (`applyTo: Pod`): every pod a workload creates
 * is mutated on its way in, and the workload itself stays as applied.
 */
export const POD_MUTATION: { readonly match: PolicyMatch; readonly autogen: boolean } = {
  match: { kinds: [{ apiGroups: [''], kinds: ['Pod'] }], operations: ['CREATE'] },
  autogen: false,
};

/** The `containerTypes` parameter: which container lists a mutation walks (`[name:*]` in a mutator). */
export function containerTypesParameter(defaults: readonly ContainerType[]): JsonSchema {
  return {
    type: 'array',
    items: { type: 'string', enum: [...CONTAINER_TYPES] },
    uniqueItems: true,
    default: [...defaults],
  };
}

/** The `overwrite` parameter: false is a mutator's `MustNotExist` path test on the target field. */
export const OVERWRITE_PARAMETER: JsonSchema = { type: 'boolean', default: false };

function jsonEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The value at `root.<parents>.<leaf>`, undefined when any step is missing. */
function peek(root: Record<string, unknown>, parents: readonly string[], leaf: string): unknown {
  let node: unknown = root;
  for (const k of parents) node = isRecord(node) ? node[k] : undefined;
  return isRecord(node) ? node[leaf] : undefined;
}

/**
 * The map at `root.<parents>`, creating each missing (or null) map on the way, like a mutator creates
 * missing parents; undefined when something other than a map is already there (left alone).
 */
function parentMap(
  root: Record<string, unknown>,
  parents: readonly string[],
): Record<string, unknown> | undefined {
  let node: Record<string, unknown> = root;
  for (const k of parents) {
    const v = node[k];
    if (v === undefined || v === null) node[k] = {};
    else if (!isRecord(v)) return undefined;
    node = node[k] as Record<string, unknown>;
  }
  return node;
}

/** Write `value` at `root.<path>` with its parents; nothing when a non-map parent is in the way. */
function write(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
  const target = parentMap(root, path.slice(0, -1));
  if (target !== undefined) target[path[path.length - 1]!] = value;
}

/**
 * Gatekeeper's Assign at `root.<path>`: set a copy of `value`, creating missing parent maps. Without
 * `overwrite` a field that is present (even `false`, `0` or `[]`) is kept, as `MustNotExist` keeps it.
 * Parents are only created when the field is actually set.
 */
export function assign(
  root: Record<string, unknown>,
  path: readonly string[],
  value: unknown,
  overwrite: boolean,
): void {
  const current = peek(root, path.slice(0, -1), path[path.length - 1]!);
  const present = current !== undefined && current !== null;
  if (present && (!overwrite || jsonEqual(current, value))) return;
  write(root, path, structuredClone(value));
}

/**
 * Gatekeeper's ModifySet `merge` at `root.<path>`: append each value the list does not hold yet (the
 * list and its parents are created when missing). A non-list already there is left alone.
 */
export function mergeIntoList(
  root: Record<string, unknown>,
  path: readonly string[],
  values: readonly unknown[],
): void {
  const current = peek(root, path.slice(0, -1), path[path.length - 1]!);
  if (current !== undefined && current !== null && !Array.isArray(current)) return;
  const list: unknown[] = Array.isArray(current) ? current : [];
  const missing = values.filter((v) => !list.some((x) => jsonEqual(x, v)));
  if (missing.length > 0) write(root, path, [...list, ...structuredClone(missing)]);
}

/**
 * A `mutate` that runs `fn` on the pod spec of the Pod under review (autogen is off for these
 * policies), and does nothing to an object without one.
 */
export function mutatePodSpec<P>(
  fn: (spec: Record<string, unknown>, params: P) => void,
): (ctx: PolicyContext<P>) => void {
  return (ctx) => {
    const object: unknown = ctx.object;
    if (isRecord(object) && isRecord(object.spec)) fn(object.spec, ctx.params);
  };
}

/** Every container (a map) in the given lists of a pod spec: `spec.<type>[name:*]` for each type. */
export function containersOf(
  spec: Record<string, unknown>,
  types: readonly ContainerType[],
): Record<string, unknown>[] {
  return types.flatMap((t) => {
    const list = spec[t];
    return Array.isArray(list) ? list.filter(isRecord) : [];
  });
}

/** Assign `securityContext.<field>` on every container of the listed types of a pod spec. */
export function assignInContainers(
  spec: Record<string, unknown>,
  types: readonly ContainerType[],
  field: string,
  value: unknown,
  overwrite: boolean,
): void {
  for (const c of containersOf(spec, types)) assign(c, ['securityContext', field], value, overwrite);
}

/** The parameters of a container field default: the value (named after the field) and where it goes. */
export type ContainerDefaultParams<F extends string, V> = { [K in F]: V } & {
  containerTypes: ContainerType[];
  overwrite: boolean;
};

/**
 * A policy that ports one Assign mutator per container list, each with a `MustNotExist` path test on
 * `spec.<list>[name:*].securityContext.<field>`: the parameter `<field>` (with its schema and default)
 * is set where unset, on the lists in `containerTypes` (default: the lists the sample names).
 */
export function containerFieldDefault<F extends string, V>(spec: {
  readonly name: string;
  readonly description: string;
  readonly field: F;
  readonly schema: JsonSchema;
  readonly containerTypes: readonly ContainerType[];
}): PolicySpec<ContainerDefaultParams<F, V>> {
  const { name, description, field } = spec;
  return {
    name,
    description,
    parameters: {
      type: 'object',
      properties: {
        [field]: spec.schema,
        containerTypes: containerTypesParameter(spec.containerTypes),
        overwrite: OVERWRITE_PARAMETER,
      },
    },
    ...POD_MUTATION,
    mutate: mutatePodSpec<ContainerDefaultParams<F, V>>((spec, p) =>
      assignInContainers(spec, p.containerTypes, field, p[field], p.overwrite),
    ),
  };
}
