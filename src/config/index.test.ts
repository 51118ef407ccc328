import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isTollgateError } from '../errors.js';
import { configurationTable } from './docs.js';
import { loadServeConfig, parseBytes, parseGoDuration, SERVE_OPTIONS } from './index.js';

let dir: string;
let cert: string;
let key: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
  cert = join(dir, 'tls.crt');
  key = join(dir, 'tls.key');
  writeFileSync(cert, 'cert');
  writeFileSync(key, 'key');
});

after(() => rmSync(dir, { recursive: true, force: true }));

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(isTollgateError(e));
    assert.equal(e.code, 'TOLLGATE_ERR_CONFIG_INVALID');
    return e.details.problems as string[];
  }
  assert.fail('expected TOLLGATE_ERR_CONFIG_INVALID');
}

describe('Go durations and byte sizes', () => {
  it('parses what the API server sends in ?timeout=', () => {
    assert.equal(parseGoDuration('10s'), 10_000);
    assert.equal(parseGoDuration('30s'), 30_000);
    assert.equal(parseGoDuration('1m0s'), 60_000);
    assert.equal(parseGoDuration('1.5s'), 1500);
    assert.equal(parseGoDuration('250ms'), 250);
    assert.equal(parseGoDuration('1h2m3s'), 3_723_000);
    assert.equal(parseGoDuration('1500us'), 1.5);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('-2s'), -2000);
    for (const bad of ['', 'abc', '10', '10x', 's', '1s2'])
      assert.equal(parseGoDuration(bad), undefined, bad);
  });

  it('parses byte sizes', () => {
    assert.equal(parseBytes('8Mi'), 8 * 1024 * 1024);
    assert.equal(parseBytes('8MiB'), 8 * 1024 * 1024);
    assert.equal(parseBytes('512k'), 512_000);
    assert.equal(parseBytes('1048576'), 1_048_576);
    assert.equal(parseBytes('1.5Ki'), 1536);
    for (const bad of ['', 'lots', '-1', '8Q']) assert.equal(parseBytes(bad), undefined, bad);
  });
});

describe('loadServeConfig', () => {
  it('defaults < file < environment < flags', () => {
    const file = join(dir, 'tollgate.yaml');
    writeFileSync(
      file,
      'port: 7000\nthreads: 3\nlogLevel: warn\nbodyLimit: 2Mi\ndefaultTimeout: 5s\nconfig: [a.yaml]\n',
    );
    const { config } = loadServeConfig({
      argv: ['--config-file', file, '--tls-cert', cert, '--tls-key', key, '--threads', '4', '--rules', dir],
      env: { TOLLGATE_PORT: '7001', TOLLGATE_THREADS: '9', TOLLGATE_CONFIG: 'b.yaml, c.yaml' },
    });
    assert.equal(config.port, 7001, 'env over file');
    assert.equal(config.threads, 4, 'flag over env');
    assert.equal(config.logLevel, 'warn', 'file over default');
    assert.equal(config.bodyLimitBytes, 2 * 1024 * 1024);
    assert.equal(config.defaultTimeoutMs, 5000);
    assert.deepEqual(config.configs, ['b.yaml', 'c.yaml']);
    assert.equal(config.metricsPort, 9090, 'default');
    assert.equal(config.watch, true);
    assert.ok(Object.isFrozen(config));
  });

  it('the config file comes from TOLLGATE_CONFIG_FILE too; --no-watch turns a default off', () => {
    const file = join(dir, 'env.json');
    writeFileSync(file, JSON.stringify({ insecureHttp: true, workers: 3 }));
    const { config } = loadServeConfig({
      argv: ['--no-watch', '--rules', dir],
      env: { TOLLGATE_CONFIG_FILE: file },
    });
    assert.equal(config.insecureHttp, true);
    assert.equal(config.workers, 3);
    assert.equal(config.watch, false);
    assert.equal(config.tlsCert, undefined);
  });

  it('reports every problem at once', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'port: eighty\nbogus: 1\n');
    const found = problems(() =>
      loadServeConfig({
        argv: [
          '--config-file',
          file,
          '--workers',
          '0',
          '--log-level',
          'loud',
          '--body-limit',
          '8 lots',
          '--rules',
          join(dir, 'nope'),
        ],
        env: { TOLLGATE_DEFAULT_TIMEOUT: 'soon' },
      }),
    );
    const text = found.join('\n');
    for (const needle of [
      'bad.yaml: port',
      'unknown setting "bogus"',
      '--workers',
      '--log-level',
      '--body-limit',
      'TOLLGATE_DEFAULT_TIMEOUT',
      '--tls-cert is required',
      '--rules',
    ]) {
      assert.ok(text.includes(needle), `${needle} in:\n${text}`);
    }
    assert.ok(found.length >= 8, text);
  });

  it('cross-field checks: TLS pair, timeouts, ports', () => {
    const found = problems(() =>
      loadServeConfig({
        argv: [
          '--insecure-http',
          '--tls-cert',
          cert,
          '--default-timeout',
          '40s',
          '--max-timeout',
          '30s',
          '--port',
          '9000',
          '--metrics-port',
          '9000',
          '--rules',
          dir,
        ],
        env: {},
      }),
    );
    assert.equal(found.length, 3, found.join('\n'));
  });

  it('unknown flags are problems; --help skips the cross-field checks', () => {
    assert.ok(
      problems(() => loadServeConfig({ argv: ['--prot', '1'], env: {} })).some((p) => p.includes('--prot')),
    );
    assert.equal(loadServeConfig({ argv: ['--help'], env: {} }).help, true);
  });
});

describe('docs/configuration.md', () => {
  it('carries the current settings table', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    assert.ok(doc.includes(configurationTable()), 'regenerate the table from src/config/docs.ts');
    for (const s of SERVE_OPTIONS) assert.ok(doc.includes(`--${s.flag}`));
  });
});
