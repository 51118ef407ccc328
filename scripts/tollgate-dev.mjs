#!/usr/bin/env node
// Runs the CLI from source (no build): `node --import tsx scripts/tollgate-dev.mjs <command> ...`.
// test/cli.test.ts spawns this, so CLI tests exercise the current sources, not a stale dist/.
const { main } = await import('../src/main.ts');
main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`tollgate: ${err?.stack ?? err}\n`);
    process.exitCode = 70;
  },
);
