// Placeholder until the test command lands in this session.
export async function run(_argv: readonly string[]): Promise<number> {
  process.stderr.write('tollgate test: not implemented yet\n');
  return 2;
}
