// Smoke test of the benchmark harness (bench/): a real run in seconds with the bare and inline contestants
// (and OPA when bench/setup.sh has installed it), through the same entry point as `npm run bench`.
// Figures are not asserted (this machine is shared); the shape of the results, the renderings, that every
// request was answered 200, and that the policy sets and request bodies stay in step are.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { bodyFiles } from '../bench/bodies/generate.js';
import { writePolicyFiles } from '../bench/lib/policies.js';
import { InlineEngine } from '../src/engine/engine.js';

const root = join(import.meta.dirname, '..');
const bench = join(root, 'bench');
const tsc = join(root, 'node_modules', '.bin', 'tsc');
const opa = join(bench, '.bin', 'opa');
const haveOpa = existsSync(opa);

function hasWrk(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined;
}
// With Go installed the harness builds and runs the Go latency generator (bench/loadgen), never Node's.
const haveGo = spawnSync('go', ['version']).error === undefined;
const benchDeps = existsSync(join(bench, 'node_modules', 'hdr-histogram-js'));
const missing = !benchDeps
  ? 'bench dependencies not installed (npm --prefix bench ci)'
  : !hasWrk()
    ? 'wrk not installed (apt-get install -y wrk)'
    : '';

const work = mkdtempSync(join(tmpdir(), 'tollgate-bench-smoke-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('bench harness', () => {
  test('the committed request bodies are what bench/bodies/generate.ts produces', () => {
    for (const [name, text] of Object.entries(bodyFiles())) {
      assert.equal(
        readFileSync(join(bench, 'bodies', name), 'utf8'),
        text,
        `bench/bodies/${name} is stale: npm --prefix bench run bodies`,
      );
    }
    const sizes = Object.fromEntries(Object.entries(bodyFiles()).map(([n, t]) => [n, Buffer.byteLength(t)]));
    assert.deepEqual(
      { two: sizes['review-2k.json'], twenty: sizes['review-20k.json'], mega: sizes['review-1m.json'] },
      { two: 2048, twenty: 20480, mega: 1048576 },
    );
  });

  test('the harness and the k6 scripts type-check', { skip: benchDeps ? false : missing }, () => {
    execFileSync(tsc, ['-p', join(bench, 'tsconfig.json')], { stdio: 'pipe' });
    execFileSync(tsc, ['-p', join(bench, 'k6', 'tsconfig.json')], { stdio: 'pipe' });
  });

  test('the 50-binding set: Tollgate and the generated Rego deny the same things', {
    skip: haveOpa ? false : 'OPA not installed (npm --prefix bench run setup)',
  }, async () => {
    const files = writePolicyFiles('fifty', join(work, 'fifty'), root);
    assert.equal(files.bindingCount, 50);
    assert.ok(files.rego !== undefined);
    const rego = files.rego;
    const deny = readFileSync(join(bench, 'bodies', 'review-deny.json'));
    const engine = await InlineEngine.create({
      rules: files.rules,
      configs: [files.bindings],
      data: [],
      cacheDir: join(work, 'cache'),
    });
    const ours = JSON.parse((await engine.evaluate({ body: deny, endpoint: 'validate' })).body) as {
      response: { allowed: boolean; status: { message: string } };
    };
    const out = execFileSync(
      opa,
      ['eval', '--format', 'json', '-d', rego, '--stdin-input', 'data.system.main'],
      { input: deny },
    );
    const theirs = (JSON.parse(out.toString()) as { result: { expressions: { value: typeof ours }[] }[] })
      .result[0]!.expressions[0]!.value;
    assert.equal(ours.response.allowed, false);
    assert.equal(theirs.response.allowed, false);
    const messages = (r: typeof ours) => r.response.status.message.split('; ').sort();
    assert.deepEqual(messages(theirs), messages(ours));
    // 40 of the 50 bindings apply to the Pod, each with two violations.
    assert.equal(messages(ours).length, files.applying * 2);
  });

  test('every policy set allows the benchmark bodies and denies the deny body', async () => {
    // The harness checks each contestant's answers before measuring; a set that denied the benchmark
    // Pod would measure the denial path instead. Checked here for every set, without a server.
    for (const variant of ['seed', 'fifty', 'podsecurity'] as const) {
      const files = writePolicyFiles(variant, join(work, `sets-${variant}`), root);
      const engine = await InlineEngine.create({
        rules: files.rules,
        configs: [files.bindings],
        data: [],
        cacheDir: join(work, 'cache'),
      });
      for (const [body, allowed] of [
        ['review-2k.json', true],
        ['review-20k.json', true],
        ['review-deny.json', false],
      ] as const) {
        const reply = await engine.evaluate({
          body: readFileSync(join(bench, 'bodies', body)),
          endpoint: 'validate',
        });
        assert.equal(reply.status, 200, `${variant} ${body}: ${reply.body.slice(0, 300)}`);
        const review = JSON.parse(reply.body) as { response: { allowed: boolean } };
        assert.equal(review.response.allowed, allowed, `${variant} ${body}: ${reply.body.slice(0, 500)}`);
      }
    }
  });

  test('a smoke run end to end writes results, table and chart', {
    skip: missing || false,
    timeout: 240_000,
  }, () => {
    const out = join(work, 'results');
    const contestants = ['bare', 'parse', 'inline', ...(haveOpa ? ['opa'] : [])];
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(bench, 'run.ts'),
        '--smoke',
        '--contestants',
        contestants.join(','),
        '--out',
        out,
      ],
      { cwd: root, encoding: 'utf8', timeout: 230_000 },
    );
    assert.equal(r.status, 0, `bench exited ${r.status ?? r.signal}:\n${r.stderr.slice(-3000)}`);
    assert.match(r.stderr, /server on cpu .*load \(wrk, open-loop\) on cpu/);

    const results = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
    assert.deepEqual(Object.keys(results.ratios).sort(), [
      'inline_vs_bare',
      'inline_vs_opa',
      'parse_vs_bare',
      'tollgate_vs_bare',
      'tollgate_vs_inline',
      'tollgate_vs_opa',
      'tollgate_vs_parse',
    ]);
    const saturation = JSON.stringify(
      Object.fromEntries(contestants.map((n) => [n, results.contestants[n]?.saturation])),
    );
    assert.equal(typeof results.ratios.inline_vs_bare, 'number', `saturation: ${saturation}`);
    assert.equal(typeof results.cpu_efficiency_ratios.inline_vs_bare, 'number', `saturation: ${saturation}`);
    assert.equal(typeof results.ratios.parse_vs_bare, 'number', `saturation: ${saturation}`);
    assert.equal(results.ratios.tollgate_vs_bare, null, 'tollgate was not in this run');
    assert.match(results.commit, /^[0-9a-f]{12}(-dirty)?$/);
    assert.ok(results.machine.includes('Node v'));
    assert.ok(results.commonRate > 0);
    assert.ok(['go', 'node'].includes(results.setup.generator), `generator ${results.setup.generator}`);
    if (haveGo) assert.equal(results.setup.generator, 'go', `notes: ${results.notes.join('; ')}`);
    for (const name of contestants) {
      const c = results.contestants[name];
      assert.equal(c.unavailable, undefined, `${name}: ${c.unavailable}`);
      assert.ok(c.saturation.rps > 0, `${name} answered no request at saturation`);
      const l = c.latency.find((x: { fraction: number }) => x.fraction === 0.7);
      assert.ok(l.completed > 0, `${name}: no request completed in the latency run`);
      assert.equal(l.non2xx, 0, `${name}: answers other than 200`);
      assert.equal(c.commonRate.non2xx, 0);
      assert.equal(l.generator, results.setup.generator, `${name}: the latency run used another generator`);
      assert.equal(typeof l.generatorLagP99Ms, 'number');
      assert.ok(l.server.cpuShare > 0 && l.server.cpuUsPerRequest > 0, JSON.stringify(l.server));
      assert.ok(l.server.switchesPerRequest >= 0, JSON.stringify(l.server));
      // Smoke runs the goals' latency points twice, interleaved; the higher-p99 run of two stands.
      for (const point of [l, c.commonRate]) {
        assert.equal(point.reps?.length, 2, `${name}: ${JSON.stringify(point.reps)}`);
        assert.equal(point.latencyMs.p99, Math.max(...point.reps.map((x: { p99: number }) => x.p99)));
        for (const rep of point.reps) {
          assert.ok(rep.stealMs.server >= 0 && rep.stealMs.load >= 0, JSON.stringify(rep));
        }
      }
      // HdrHistogram percentiles are the top of their bucket (3 significant digits): up to 0.1 % above max.
      const { p50, p99, max } = l.latencyMs;
      assert.ok(
        p50 > 0 && p50 <= p99 && p99 <= max * 1.001 + 0.001,
        `${name}: ${JSON.stringify(l.latencyMs)}`,
      );
      assert.ok(results.rss_mb[name] > 10, `${name}: RSS ${results.rss_mb[name]} MB`);
      if (process.getuid?.() === 0) {
        const { peakMb, peakUniqueMb } = c.rssMb;
        assert.ok(peakUniqueMb > 10 && peakUniqueMb <= peakMb + 1, `${name}: ${JSON.stringify(c.rssMb)}`);
      }
      assert.equal(typeof results.p99_ms[name], 'number');
      assert.ok(results.cpu_us_per_request[name] > 0, `${name}: no CPU time measured`);
    }
    assert.deepEqual(
      results.goals.map((g: { status: string }) => g.status),
      ['n/a', 'n/a', 'n/a', 'n/a', 'n/a'],
      'without tollgate every goal is n/a',
    );

    const md = readFileSync(join(out, 'latest.md'), 'utf8');
    for (const name of contestants) assert.match(md, new RegExp(`^\\| ${name} \\| [\\d,]+ \\|`, 'm'));
    const svg = readFileSync(join(out, 'latest.svg'), 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(svg.match(/<polyline /g)?.length, contestants.length);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    const history = readdirSync(join(out, 'history'));
    assert.equal(history.length, 1);
    assert.match(history[0]!, /-smoke\.json$/);
  });
});
