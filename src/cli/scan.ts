// Placeholder until the scan command lands in this session.
export async function run(_argv: readonly string[]): Promise<number> {
  process.stderr.write('tollgate scan: not implemented yet\n');
  return 2;
}
