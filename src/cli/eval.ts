// Placeholder until the eval command lands in this session.
export async function run(_argv: readonly string[]): Promise<number> {
  process.stderr.write('tollgate eval: not implemented yet\n');
  return 2;
}
