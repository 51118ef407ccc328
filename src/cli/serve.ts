// Placeholder until the serve command lands in this session.
export async function run(_argv: readonly string[]): Promise<number> {
  process.stderr.write('tollgate serve: not implemented yet\n');
  return 2;
}
