// `npm run bundle` (part of `npm run build`): the compiled worker and its dependencies in one
// file, dist/maestro-worker.cjs, which bin/maestro-worker.js runs while it is up to date.
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
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { importMetaUrlFromFilename, ourInputs, withoutMsgpackrExtract } from './bundle-common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const outfile = path.join(here, 'dist', 'maestro-worker.cjs');
// BullMQ's ES build rather than the CommonJS one its `main` names (it has no `exports`): the
// same release's code, but bundled without a wrapper function and a module record for each of
// its ~200 files, and without what nothing reaches. The bundle 2.76 -> 2.59 MB, an idle local
// worker 63.2 -> 62.4-62.5 MiB RSS (issue #27). Only BullMQ's: other packages' `module`
// builds (msgpackr's) stay unused.
const bullmqEsm = path.join(
  path.dirname(createRequire(import.meta.url).resolve('bullmq/package.json')),
  'dist',
  'esm',
  'index.js',
);

const result = await build({
  absWorkingDir: here,
  entryPoints: [path.join(here, 'dist', 'main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  // CommonJS, not an ES module: Node 20 keeps no compiled code of an ES module between runs,
  // while a script's V8 code cache halves a worker's start (bin/code-cache.js).
  format: 'cjs',
  target: 'node20',
  metafile: true,
  logLevel: 'warning',
  // Comments and indentation out: V8 keeps each file's whole source in memory for as long as
  // the process runs, and one non-Latin-1 character (a comment's arrow or dash) makes it keep
  // two bytes a character. Names stay, so stack traces still read.
  minifyWhitespace: true,
  // Backends that bullmq loads only if present.
  external: ['pg', '@valkey/valkey-glide'],
  plugins: [withoutMsgpackrExtract],
  alias: { bullmq: bullmqEsm },
  // Our own modules find their files next to them (run-step.ts: the step launcher).
  ...importMetaUrlFromFilename,
});

const inputs = ourInputs(result.metafile, here);
writeFileSync(
  path.join(here, 'dist', 'maestro-worker.inputs.json'),
  `${JSON.stringify({ builtAtMs: Date.now(), inputs }, null, 1)}\n`,
);
