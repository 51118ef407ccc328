/**
 * Shared helpers for the Gatekeeper library ports (bundled into each policy; `_lib` is not a policy).
 */
import type { ContainerRef, ContainerType, JsonSchema, PolicyMatch } from 'tollgate/sdk';

const LABEL: Record<ContainerType, string> = {
  containers: 'container',
  initContainers: 'initContainer',
  ephemeralContainers: 'ephemeralContainer',
};

/**
 * `container "nginx"`, `initContainer "setup"`, `ephemeralContainer "debug"`. Gatekeeper's own
 * messages use these words, and constraint suites tell the container types apart by them (the word
 * `container` in lower case appears only in messages about regular containers).
 */
export function who(c: ContainerRef): string {
  return `${LABEL[c.type]} ${JSON.stringify(c.name)}`;
}

/** The container's field path with a sub-field: `spec.initContainers[0].securityContext.privileged`. */
export function field(c: ContainerRef, sub: string): string {
  return `${c.path}.${sub}`;
}

/**
 * Gatekeeper's `exemptImages`: an exact image, or a prefix ending in `*` (`safeimages.com/*`; `*` alone
 * exempts everything).
 */
export function isExempt(image: string, exemptImages: readonly string[] | undefined): boolean {
  if (exemptImages === undefined) return false;
  for (const e of exemptImages) {
    if (e.endsWith('*') ? image.startsWith(e.slice(0, -1)) : image === e) return true;
  }
  return false;
}

export const EXEMPT_IMAGES: JsonSchema = { type: 'array', items: { type: 'string' } };

/** The parameters both seccomp ports take (K8sPSPSeccomp and K8sPSPSeccompV2 share them). */
export interface SeccompParams {
  allowedProfiles: string[];
  allowedLocalhostFiles: string[];
  exemptImages: string[];
}

export const SECCOMP_PARAMETERS: JsonSchema = {
  type: 'object',
  properties: {
    allowedProfiles: { type: 'array', items: { type: 'string' }, default: [] },
    allowedLocalhostFiles: { type: 'array', items: { type: 'string' }, default: [] },
    exemptImages: { ...EXEMPT_IMAGES, default: [] },
  },
};

/** Pods on CREATE and UPDATE (autogen extends it to pod controllers). */
export const PODS: PolicyMatch = {
  kinds: [{ apiGroups: [''], kinds: ['Pod'] }],
  operations: ['CREATE', 'UPDATE'],
};

/**
 * Pods on CREATE only: the pod-security ports, like Gatekeeper's, leave UPDATE alone (most pod fields
 * are immutable after creation, and a running pod must stay updatable). A binding can add UPDATE.
 */
export const PODS_ON_CREATE: PolicyMatch = {
  kinds: [{ apiGroups: [''], kinds: ['Pod'] }],
  operations: ['CREATE'],
};

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A `seccompProfile` or `appArmorProfile` field ({type, localhostProfile}) in the older annotation
 * spelling that the Gatekeeper policies compare against: `runtime/default`, `unconfined`, `localhost/<p>`.
 */
export function profileAsAnnotation(p: unknown): string | undefined {
  if (!isRecord(p) || typeof p.type !== 'string') return undefined;
  if (p.type === 'RuntimeDefault') return 'runtime/default';
  if (p.type === 'Unconfined') return 'unconfined';
  if (p.type === 'Localhost') return `localhost/${String(p.localhostProfile ?? '')}`;
  return p.type;
}

/** `obj.a.b` for a path of keys, or undefined when any step is missing. */
export function dig(obj: unknown, ...keys: string[]): unknown {
  let node = obj;
  for (const k of keys) {
    if (!isRecord(node)) return undefined;
    node = node[k];
  }
  return node;
}
