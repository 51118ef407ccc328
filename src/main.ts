/**
 * Wiring only: pick the command and hand it the rest of argv. Each command lives in src/cli/<name>.ts and
 * exports `run(argv): Promise<number>` (the exit code). Cluster workers re-enter here via `serve`.
 */
const COMMANDS = {
  serve: () => import('./cli/serve.js'),
  certs: () => import('./cli/certs.js'),
  test: () => import('./cli/test.js'),
  scan: () => import('./cli/scan.js'),
  eval: () => import('./cli/eval.js'),
} as const satisfies Record<string, () => Promise<{ run(argv: readonly string[]): Promise<number> }>>;

type CommandName = keyof typeof COMMANDS;

const USAGE = `usage: tollgate <command> [flags]

commands:
  serve   run the TLS admission webhook cluster
  certs   generate a dev CA and serving certificate, print the caBundle
  test    run policy test suites (YAML)
  scan    evaluate manifests as CREATE requests; exit 1 when anything is denied
  eval    AdmissionReview JSON lines in, responses out

shared flags: --rules DIR (./rules)  --config PATH...  --data PATH...  --log-level LEVEL
run 'tollgate <command> --help' for the flags of one command`;

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (!Object.hasOwn(COMMANDS, name)) {
    process.stderr.write(`tollgate: unknown command ${JSON.stringify(name)}\n\n${USAGE}\n`);
    return 2;
  }
  const mod = await COMMANDS[name as CommandName]();
  return mod.run(rest);
}
