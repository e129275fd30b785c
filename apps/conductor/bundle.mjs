// `npm run bundle` (part of `npm run build`): the compiled conductor and its dependencies bundled
// twice, which bin/maestro.js runs while they are up to date. Same reason as the worker's bundle
// (apps/worker/bundle.mjs): Node 20 spends most of a `maestro run` start resolving and reading
// some 400 separate modules (BullMQ, ioredis, zod, yaml) before the study's first step can be
// sent.
//
// - dist/bundle/main.js and its chunks, an ES module, for Node 22.1+ (module.enableCompileCache
//   keeps its compiled code): code splitting keeps each command's modules in chunks of their own
//   (the dashboard, pgen and the control commands load only when used).
// - dist/bundle/maestro.cjs, one CommonJS file, for Node 20, which keeps no compiled code of an
//   ES module: a script runs through V8's code cache instead (@maestro/worker/code-cache, as the
//   worker's bundle does), where compiling the ES bundle was ~78 ms of a `maestro run`'s ~500 ms
//   of CPU (`node --cpu-prof`). esbuild cannot split CommonJS, so each command's modules are in
//   the one file, but still lazy: a module only import()ed is wrapped in a function that runs
//   its top-level code at that import().
//
// Both sit one folder below dist/, like every compiled file, so the paths our code builds from
// import.meta.url ('../../web/', '../../bin/maestro.js') point where they point from dist/<dir>/.
//
// Left out: the dashboard's web stack (bull-board serves files from its own package folder),
// tsx (a loader that must find its own files), and the optional backends BullMQ loads if present.
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { importMetaUrlFromFilename, ourInputs, withoutMsgpackrExtract } from '../worker/bundle-common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true }); // chunk names change with their contents

const common = {
  absWorkingDir: here,
  entryPoints: [path.join(here, 'dist', 'main.js')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  metafile: true,
  logLevel: 'warning',
  // Comments and indentation out: V8 keeps each file's whole source in memory for as long as
  // the process runs, and one non-Latin-1 character (a comment's arrow or dash) makes it keep
  // two bytes a character. Names stay, so stack traces still read.
  minifyWhitespace: true,
  external: ['@bull-board/*', 'express', 'tsx', 'tsx/*', 'pg', '@valkey/valkey-glide'],
  plugins: [withoutMsgpackrExtract],
};

const esm = await build({
  ...common,
  outdir,
  splitting: true,
  format: 'esm',
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

const cjs = await build({
  ...common,
  outfile: path.join(outdir, 'maestro.cjs'),
  format: 'cjs',
  ...importMetaUrlFromFilename,
});

// What the bin checks: our compiled files they were made from (not node_modules'); any newer one
// (a `tsc -b` without this step) makes the bin run dist/main.js instead of stale code.
const inputs = [...new Set([...ourInputs(esm.metafile, here), ...ourInputs(cjs.metafile, here)])];
writeFileSync(path.join(outdir, 'inputs.json'), `${JSON.stringify({ builtAtMs: Date.now(), inputs }, null, 1)}\n`);
