// `npm run bundle` (part of `npm run build`): the compiled conductor and its dependencies in a
// few files, dist/bundle/main.js and its chunks, which bin/maestro.js runs while they are up to
// date. Same reason as the worker's bundle (apps/worker/bundle.mjs): Node 20 spends most of a
// `maestro run` start resolving and reading some 400 separate modules (BullMQ, ioredis, zod,
// yaml) before the study's first step can be sent. Code splitting keeps each command's modules
// lazy (the dashboard, pgen and the control commands load only when used).
//
// The chunks sit one folder below dist/, like every compiled file, so the paths our code builds
// from import.meta.url ('../../web/', '../main.js') point where they point from dist/<dir>/.
//
// Left out: the dashboard's web stack (bull-board serves files from its own package folder),
// tsx (a loader that must find its own files), and the optional backends BullMQ loads if present.
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ourInputs, withoutMsgpackrExtract } from '../worker/bundle-common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true }); // chunk names change with their contents

const result = await build({
  absWorkingDir: here,
  entryPoints: [path.join(here, 'dist', 'main.js')],
  outdir,
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  metafile: true,
  logLevel: 'warning',
  // Comments and indentation out: V8 keeps each file's whole source in memory for as long as
  // the process runs, and one non-Latin-1 character (a comment's arrow or dash) makes it keep
  // two bytes a character. Names stay, so stack traces still read.
  minifyWhitespace: true,
  external: ['@bull-board/*', 'express', 'tsx', 'tsx/*', 'pg', '@valkey/valkey-glide'],
  plugins: [withoutMsgpackrExtract],
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

// What the bin checks: our compiled files it was made from (not node_modules'); any newer one
// (a `tsc -b` without this step) makes the bin run dist/main.js instead of stale code.
const inputs = ourInputs(result.metafile, here);
writeFileSync(path.join(outdir, 'inputs.json'), `${JSON.stringify({ builtAtMs: Date.now(), inputs }, null, 1)}\n`);
