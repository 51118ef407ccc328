// Placeholder until the certs command lands in this session.
export async function run(_argv: readonly string[]): Promise<number> {
  process.stderr.write('tollgate certs: not implemented yet\n');
  return 2;
}
