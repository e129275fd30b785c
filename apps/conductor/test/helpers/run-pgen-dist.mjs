// Runs runParameterGenerator from the compiled dist/ in a plain Node process, as the CLI will.
// Under vitest, import() of a generator module would go through Vite's transform instead of
// Node's loader, so module generators are tested through this script.
// argv[2]: JSON { file, pargs, ctx }. stdout: JSON { defs } or { error: { name, code, file, message, cause } }.
const { runParameterGenerator } = await import(new URL('../../dist/pgen/index.js', import.meta.url).href);
const { file, pargs, ctx } = JSON.parse(process.argv[2] ?? '{}');
try {
  const defs = await runParameterGenerator(file, pargs, ctx);
  process.stdout.write(JSON.stringify({ defs }));
} catch (err) {
  const { name, code, file: errFile, message, cause } = err;
  const causeName = cause instanceof Error ? cause.constructor.name : undefined;
  process.stdout.write(JSON.stringify({ error: { name, code, file: errFile, message, cause: causeName } }));
}
