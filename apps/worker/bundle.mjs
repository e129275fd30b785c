// `npm run bundle` (part of `npm run build`): the compiled worker and its dependencies in one
// file, dist/maestro-worker.mjs, which bin/maestro-worker.js runs while it is up to date.
//
// Why: Node 20 spends most of a worker's start resolving, reading and parsing some 300 separate
// modules (bullmq alone loads every class it has). One file starts in about 0.3 s instead of
// 0.75 s on the development machine, which is time a study waits for its first steps and CPU
// taken from the steps of others (`time maestro-worker --redis URL --idle-timeout 1ms`).
//
// Next to the bundle, dist/maestro-worker.inputs.json lists the compiled files it was made from
// (ours, not node_modules'): the bin falls back to dist/main.js when any of them is newer, so a
// `tsc -b` without this step never runs stale code.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const outfile = path.join(here, 'dist', 'maestro-worker.mjs');

const result = await build({
  absWorkingDir: here,
  entryPoints: [path.join(here, 'dist', 'main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  metafile: true,
  logLevel: 'warning',
  // Comments and indentation out: V8 keeps each file's whole source in memory for as long as
  // the process runs, and one non-Latin-1 character (a comment's arrow or dash) makes it keep
  // two bytes a character. Names stay, so stack traces still read.
  minifyWhitespace: true,
  // Backends and native speed-ups that bullmq and msgpackr load only if present.
  external: ['pg', '@valkey/valkey-glide', 'msgpackr-extract'],
  // CommonJS dependencies inside an ES module still call require() and read __dirname.
  banner: {
    js: [
      "import { createRequire as __maestroCreateRequire } from 'node:module';",
      "import { fileURLToPath as __maestroFileURLToPath } from 'node:url';",
      "import { dirname as __maestroDirname } from 'node:path';",
      'const require = __maestroCreateRequire(import.meta.url);',
      'const __filename = __maestroFileURLToPath(import.meta.url);',
      'const __dirname = __maestroDirname(__filename);',
    ].join('\n'),
  },
});

const inputs = Object.keys(result.metafile.inputs)
  .map((p) => path.resolve(here, p))
  .filter((p) => !p.split(path.sep).includes('node_modules'));
writeFileSync(
  path.join(here, 'dist', 'maestro-worker.inputs.json'),
  `${JSON.stringify({ builtAtMs: Date.now(), inputs }, null, 1)}\n`,
);
