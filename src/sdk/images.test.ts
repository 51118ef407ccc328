import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ImageRef, imageUnderRegistry, parseImage } from './images.js';

const D = `sha256:${'a'.repeat(64)}`;

type Expect = Partial<Omit<ImageRef, 'raw'>>;

// Expectations follow distribution/reference's ParseNormalizedNamed + splitDockerDomain.
const CASES: [string, Expect][] = [
  [
    'nginx',
    {
      host: 'docker.io',
      port: undefined,
      registry: 'docker.io',
      explicitRegistry: false,
      repository: 'library/nginx',
      path: 'nginx',
      tag: 'latest',
      explicitTag: false,
      digest: undefined,
    },
  ],
  ['nginx:1.21.1', { repository: 'library/nginx', tag: '1.21.1', explicitTag: true }],
  [
    'library/nginx:1.25',
    { explicitRegistry: false, repository: 'library/nginx', path: 'library/nginx', tag: '1.25' },
  ],
  ['bitnami/redis:7.2', { registry: 'docker.io', repository: 'bitnami/redis', tag: '7.2' }],
  [
    'docker.io/nginx',
    { explicitRegistry: true, host: 'docker.io', repository: 'library/nginx', path: 'nginx' },
  ],
  ['docker.io/library/nginx:1', { repository: 'library/nginx', path: 'library/nginx', tag: '1' }],
  ['index.docker.io/nginx', { host: 'index.docker.io', repository: 'library/nginx' }],
  ['docker.io/team/app', { repository: 'team/app' }],
  [
    'ghcr.io/org/app:v1',
    { host: 'ghcr.io', registry: 'ghcr.io', explicitRegistry: true, repository: 'org/app', tag: 'v1' },
  ],
  ['gcr.io/proj/sub/app', { repository: 'proj/sub/app', tag: 'latest', explicitTag: false }],
  [
    '192.168.64.1:5000/nginx:1.21.1',
    { host: '192.168.64.1', port: '5000', registry: '192.168.64.1:5000', repository: 'nginx', tag: '1.21.1' },
  ],
  [
    '192.168.64.1/nginx',
    { host: '192.168.64.1', port: undefined, registry: '192.168.64.1', repository: 'nginx' },
  ],
  [
    'registry.io:443/app',
    { host: 'registry.io', port: '443', repository: 'app', tag: 'latest', explicitTag: false },
  ],
  ['localhost/app', { host: 'localhost', explicitRegistry: true, repository: 'app' }],
  [
    'localhost:5000/app:dev',
    { host: 'localhost', port: '5000', registry: 'localhost:5000', repository: 'app', tag: 'dev' },
  ],
  [
    '[::1]:5000/app:1.0',
    { host: '[::1]', port: '5000', registry: '[::1]:5000', repository: 'app', tag: '1.0' },
  ],
  ['[::1]/app', { host: '[::1]', port: undefined, registry: '[::1]', repository: 'app', tag: 'latest' }],
  [
    `[2001:db8::1]:443/team/app@${D}`,
    { host: '[2001:db8::1]', port: '443', repository: 'team/app', digest: D },
  ],
  ['Registry/app', { host: 'Registry', explicitRegistry: true, repository: 'app' }],
  ['MyRegistry.io/app', { host: 'MyRegistry.io', repository: 'app' }],
  [`nginx@${D}`, { repository: 'library/nginx', tag: undefined, explicitTag: false, digest: D }],
  [`nginx:1.25@${D}`, { tag: '1.25', explicitTag: true, digest: D }],
  [`ghcr.io:5000/a/b:c@${D}`, { host: 'ghcr.io', port: '5000', repository: 'a/b', tag: 'c', digest: D }],
  ['  nginx:1  ', { repository: 'library/nginx', tag: '1' }],
  ['app:latest', { tag: 'latest', explicitTag: true }],
  ['a.b/c:d.e_f-g', { host: 'a.b', repository: 'c', tag: 'd.e_f-g' }],
];

describe('parseImage', () => {
  for (const [raw, want] of CASES) {
    it(raw, () => {
      const got = parseImage(raw);
      assert.equal(got.raw, raw);
      for (const [k, v] of Object.entries(want)) assert.equal(got[k as keyof ImageRef], v, `${raw}: ${k}`);
    });
  }

  it('the seed blog prefix trap: a string prefix is not a registry', () => {
    const lookalike = parseImage('192.168.64.10:5000/nginx');
    assert.equal(lookalike.host, '192.168.64.10');
    assert.ok('192.168.64.10:5000/nginx'.startsWith('192.168.64.1'), 'the naive check would pass it');
    assert.equal(imageUnderRegistry(lookalike, '192.168.64.1'), false);
  });
});

describe('imageUnderRegistry', () => {
  const yes: [string, string][] = [
    ['192.168.64.1:5000/nginx:1', '192.168.64.1:5000'],
    ['192.168.64.1:5000/nginx:1', '192.168.64.1:5000/'],
    ['192.168.64.1:5000/team/app', '192.168.64.1:5000/team'],
    ['192.168.64.1/nginx', '192.168.64.1'],
    ['registry.io/team/app', 'registry.io/team'],
    ['registry.io/team/app', 'REGISTRY.io'],
    ['Registry.IO/team/app', 'registry.io/team'],
    ['registry.io/team', 'registry.io/team'],
    ['nginx', 'docker.io'],
    ['nginx', 'docker.io/library'],
    ['nginx', 'docker.io/nginx'],
    ['docker.io/nginx', 'docker.io/library'],
    ['index.docker.io/nginx', 'docker.io'],
    ['docker.io/nginx:1', 'index.docker.io/library/nginx'],
    ['bitnami/redis', 'docker.io/bitnami'],
    ['[::1]:5000/app', '[::1]:5000'],
    ['localhost:5000/app', 'localhost:5000'],
  ];
  const no: [string, string][] = [
    ['192.168.64.10:5000/nginx', '192.168.64.1:5000'],
    ['192.168.64.1:5000.evil.io/nginx', '192.168.64.1:5000'],
    ['192.168.64.1:5000/nginx', '192.168.64.1'],
    ['192.168.64.1/nginx', '192.168.64.1:5000'],
    ['registry.io/teamster/app', 'registry.io/team'],
    ['registry.io.evil.com/team/app', 'registry.io'],
    ['evil.com/registry.io/team/app', 'registry.io'],
    ['nginx', 'registry.io'],
    ['nginx', 'docker.io/bitnami'],
    ['bitnami/redis', 'docker.io/library'],
    ['registry.io/team/app', ''],
    ['registry.io/team/app', '   '],
    ['[::1]:5000/app', '[::1]'],
    ['localhost/app', 'localhost:5000'],
  ];
  for (const [image, prefix] of yes) {
    it(`${image} is under ${JSON.stringify(prefix)}`, () =>
      assert.equal(imageUnderRegistry(parseImage(image), prefix), true));
  }
  for (const [image, prefix] of no) {
    it(`${image} is not under ${JSON.stringify(prefix)}`, () => {
      assert.equal(imageUnderRegistry(parseImage(image), prefix), false);
    });
  }
});
