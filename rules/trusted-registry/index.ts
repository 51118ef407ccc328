import { type ContainerRef, definePolicy, imageUnderRegistry, type Violation } from 'tollgate/sdk';

interface Params {
  registries: string[];
  forbiddenTags: string[];
  requireDigest: boolean;
}

const KIND_LABEL: Record<ContainerRef['type'], string> = {
  containers: 'container',
  initContainers: 'initContainer',
  ephemeralContainers: 'ephemeralContainer',
};

const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;

function describe(c: ContainerRef): string {
  return `${KIND_LABEL[c.type]} ${JSON.stringify(c.name)} image ${JSON.stringify(c.image)} (${c.path}.image)`;
}

/**
 * Images must come from a trusted registry, must not use a forbidden tag (`latest` by default, and an
 * image without tag or digest counts as `latest`) and, optionally, must be pinned by digest.
 *
 * Unlike the seed rule it replaces: every container type is checked (init and ephemeral too), a registry
 * matches only on a host/port/path boundary (`192.168.64.10:5000/x` is not in `192.168.64.1:5000`), an
 * untagged image is `latest`, and a digest-pinned image passes the tag check, since the digest decides
 * what runs. Workloads (Deployment, CronJob, …) are checked through autogen with their real field paths.
 */
export default definePolicy<Params>({
  name: 'trusted-registry',
  description:
    'Container images come from trusted registries, without forbidden tags (latest), optionally by digest.',
  parameters: {
    type: 'object',
    additionalProperties: false,
    required: ['registries'],
    properties: {
      registries: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'string',
          // host[:port][/path]: a DNS name, IPv4 or bracketed IPv6 host, optional port, optional path.
          pattern:
            '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?(/[a-z0-9._/-]*)?$',
        },
      },
      forbiddenTags: { type: 'array', items: { type: 'string', minLength: 1 }, default: ['latest'] },
      requireDigest: { type: 'boolean', default: false },
    },
  },
  match: { kinds: [{ apiGroups: [''], kinds: ['Pod'] }], operations: ['CREATE', 'UPDATE'] },
  validate(ctx) {
    const { registries, forbiddenTags, requireDigest } = ctx.params;
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      const path = `${c.path}.image`;
      if (c.image.trim() === '') {
        violations.push({
          message: `${KIND_LABEL[c.type]} ${JSON.stringify(c.name)} has no image (${path})`,
          path,
        });
        continue;
      }
      const ref = ctx.parseImage(c.image);
      if (!registries.some((r) => imageUnderRegistry(ref, r))) {
        violations.push({
          message: `${describe(c)} is not from a trusted registry; allowed: ${registries.join(', ')}`,
          path,
        });
      }
      if (ref.digest !== undefined && !DIGEST.test(ref.digest)) {
        violations.push({ message: `${describe(c)} has a malformed digest; expected algorithm:hex`, path });
        continue;
      }
      if (ref.digest === undefined) {
        const tag = ref.tag ?? 'latest';
        if (forbiddenTags.includes(tag)) {
          const how = ref.explicitTag
            ? `uses the forbidden tag ${JSON.stringify(tag)}`
            : `has no tag, which means "latest"`;
          violations.push({ message: `${describe(c)} ${how}; pin a version tag or a digest`, path });
        }
        if (requireDigest) {
          violations.push({ message: `${describe(c)} is not pinned by digest (@sha256:…)`, path });
        }
      }
    }
    return violations;
  },
});
