/**
 * The Tollgate policy SDK: what a policy author imports (`import { definePolicy } from 'tollgate/sdk'`).
 * Everything here is pure: no I/O, no module state.
 */

import type { KubeObject } from './types.js';
import { POLICY_BRAND, type Policy, type PolicySpec } from './types.js';

export type { ImageRef } from './images.js';
export { imageUnderRegistry, parseImage } from './images.js';
export type { ContainerRef, ContainerType, PodSpecRef } from './pod-specs.js';
export { CONTAINER_TYPES, containers, podSpecs, podTemplateOf } from './pod-specs.js';
export * from './types.js';

/** Declare a policy. The engine checks the shape again when loading; this gives authors types. */
export function definePolicy<P = Record<string, unknown>, O extends object = KubeObject>(
  spec: PolicySpec<P, O>,
): Policy<P, O> {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('definePolicy expects an object');
  if (typeof spec.name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(spec.name)) {
    throw new TypeError(`definePolicy: name must be kebab-case, got ${JSON.stringify(spec.name)}`);
  }
  if (typeof spec.validate !== 'function' && typeof spec.mutate !== 'function') {
    throw new TypeError(`definePolicy(${spec.name}): define validate and/or mutate`);
  }
  return Object.freeze({ ...spec, [POLICY_BRAND]: true as const });
}

export function isPolicy(v: unknown): v is Policy {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[POLICY_BRAND] === true;
}
