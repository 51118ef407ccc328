/**
 * Container image reference parsing, following the Docker distribution reference grammar:
 * `[host[:port]/]path[:tag][@digest]`. The first component is a registry host only when it contains a
 * `.` or a `:`, or is `localhost`; otherwise the image lives on Docker Hub.
 */

export interface ImageRef {
  /** The string as written. */
  readonly raw: string;
  /** Registry host as written (`192.168.64.1`, `ghcr.io`), or `docker.io` when none is written. */
  readonly host: string;
  /** Port when written (`5000`), else undefined. */
  readonly port: string | undefined;
  /** `host[:port]`; `docker.io` when none is written. */
  readonly registry: string;
  /** True when the reference names its registry explicitly. */
  readonly explicitRegistry: boolean;
  /** Repository path without the registry (`library/nginx` for Hub official images, `team/app`). */
  readonly repository: string;
  /** The path as written, without the registry (`nginx`, `team/app`). */
  readonly path: string;
  /** Tag as written, or `latest` when neither tag nor digest is written. */
  readonly tag: string | undefined;
  /** True when the tag is written. */
  readonly explicitTag: boolean;
  /** `sha256:…` when pinned by digest. */
  readonly digest: string | undefined;
}

/** Names Docker Hub goes by; `docker.io/x` and `index.docker.io/x` are the same images as `x`. */
const HUB_HOSTS = new Set(['docker.io', 'index.docker.io']);

const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;

export function parseImage(raw: string): ImageRef {
  let rest = raw.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    digest = DIGEST_RE.test(d) ? d : d || undefined;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
  }
  let hostPart = '';
  let path = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first !== first.toLowerCase()
    ) {
      hostPart = first;
      path = rest.slice(firstSlash + 1);
    }
  }
  const explicitRegistry = hostPart !== '';
  let host = 'docker.io';
  let port: string | undefined;
  if (explicitRegistry) {
    const c = hostPart.lastIndexOf(':');
    // An IPv6 literal is bracketed: [::1]:5000
    if (c > hostPart.lastIndexOf(']')) {
      host = hostPart.slice(0, c);
      port = hostPart.slice(c + 1);
    } else {
      host = hostPart;
    }
  }
  // Official Hub images live under library/, also when Docker Hub is named (`docker.io/nginx`).
  const onHub = !explicitRegistry || (port === undefined && HUB_HOSTS.has(host.toLowerCase()));
  const repository = onHub && !path.includes('/') ? `library/${path}` : path;
  const explicitTag = tag !== undefined;
  if (tag === undefined && digest === undefined) tag = 'latest';
  return {
    raw,
    host,
    port,
    registry: explicitRegistry ? hostPart : 'docker.io',
    explicitRegistry,
    repository,
    path,
    tag,
    explicitTag,
    digest,
  };
}

/**
 * Whether `image` lives under `prefix` (`host[:port][/path]`), on component boundaries only:
 * `192.168.64.10:5000/x` and `192.168.64.1:5000.evil.io/x` are NOT under `192.168.64.1:5000`, and
 * `registry.io/team` does not contain `registry.io/teamster/app`. A prefix without a port matches only
 * images written without a port.
 */
export function imageUnderRegistry(image: ImageRef, prefix: string): boolean {
  const p = prefix.trim().replace(/\/+$/, '');
  if (p === '') return false;
  const slash = p.indexOf('/');
  const hostPart = slash >= 0 ? p.slice(0, slash) : p;
  const pathPart = slash >= 0 ? p.slice(slash + 1) : '';
  const hub = (h: string) => (HUB_HOSTS.has(h.toLowerCase()) ? 'docker.io' : h.toLowerCase());
  const imageHost = image.explicitRegistry ? image.registry : 'docker.io';
  if (hub(hostPart) !== hub(imageHost)) return false;
  if (pathPart === '') return true;
  // Hub images are matched as written and as normalised: `docker.io/nginx` and `docker.io/library` both
  // cover `nginx`. Elsewhere the two are the same.
  const under = (path: string) => path === pathPart || path.startsWith(`${pathPart}/`);
  return under(image.repository) || under(image.path);
}
