/**
 * Resource checks shared by the container-limits, container-requests and ephemeral-storage-limit ports.
 */
import { type ContainerRef, definePolicy, type Policy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, isRecord, PODS, who } from './gatekeeper.js';
import { parseQuantity } from './quantity.js';

export type Section = 'limits' | 'requests';

/** The value of `resources.<section>.<resource>` of a container, or undefined when not set. */
export function resourceValue(c: ContainerRef, section: Section, resource: string): unknown {
  const resources = (c.container as unknown as Record<string, unknown>).resources;
  const s = isRecord(resources) ? resources[section] : undefined;
  const v = isRecord(s) ? s[resource] : undefined;
  return v === null ? undefined : v;
}

export interface Maximum {
  readonly resource: string;
  /** As written in the parameters, for messages. */
  readonly raw: string;
  readonly max: number;
}

/**
 * Parse `{cpu: '200m', memory: '-1'}`-style parameters into maxima. `-1` or absence skips a resource.
 * Returns a message when a parameter is not a quantity (a broken binding must not pass silently).
 */
export function maxima(params: Record<string, unknown>, resources: readonly string[]): Maximum[] | string {
  const out: Maximum[] = [];
  for (const resource of resources) {
    const raw = params[resource];
    if (raw === undefined || raw === null || String(raw).trim() === '-1') continue;
    const max = parseQuantity(raw);
    if (max === undefined)
      return `parameters.${resource} ${JSON.stringify(raw)} is not a Kubernetes quantity; fix the binding`;
    out.push({ resource, raw: String(raw), max });
  }
  return out;
}

/** Each resource must be set in `section` and be no larger than its maximum. */
export function checkMaxima(
  c: ContainerRef,
  section: Section,
  checks: readonly Maximum[],
  out: Violation[],
): void {
  const noun = section === 'limits' ? 'limit' : 'request';
  for (const { resource, raw, max } of checks) {
    const path = field(c, `resources.${section}.${resource}`);
    const value = resourceValue(c, section, resource);
    if (value === undefined) {
      out.push({
        message: `${who(c)} has no ${resource} ${noun} (${path}); set one of at most ${raw}`,
        path,
      });
      continue;
    }
    const n = parseQuantity(value);
    if (n === undefined) {
      out.push({
        message: `${who(c)} ${resource} ${noun} ${JSON.stringify(value)} is not a valid quantity (${path})`,
        path,
      });
    } else if (n > max) {
      out.push({
        message: `${who(c)} ${resource} ${noun} ${String(value)} is higher than the maximum allowed of ${raw} (${path})`,
        path,
      });
    }
  }
}

export interface MaximaParams {
  cpu?: string;
  memory?: string;
  exemptImages: string[];
}

/**
 * The K8sContainerLimits / K8sContainerRequests pair: containers and initContainers must set CPU and
 * memory in `section`, each no larger than its maximum (`-1` or absence skips a resource). Ephemeral
 * containers cannot set resources, so they are not checked.
 */
export function maximaPolicy(spec: {
  name: string;
  description: string;
  alias: string;
  section: Section;
}): Policy<MaximaParams> {
  return definePolicy<MaximaParams>({
    name: spec.name,
    description: spec.description,
    aliases: [spec.alias],
    parameters: {
      type: 'object',
      properties: {
        cpu: { type: 'string' },
        memory: { type: 'string' },
        exemptImages: { ...EXEMPT_IMAGES, default: [] },
      },
    },
    match: PODS,
    validate(ctx) {
      const checks = maxima(ctx.params as unknown as Record<string, unknown>, ['cpu', 'memory']);
      if (typeof checks === 'string') return checks;
      const violations: Violation[] = [];
      for (const c of ctx.containers(['containers', 'initContainers'])) {
        if (!isExempt(c.image, ctx.params.exemptImages)) checkMaxima(c, spec.section, checks, violations);
      }
      return violations;
    },
  });
}
