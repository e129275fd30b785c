#!/usr/bin/env node
// The `maestro-worker` command: runs the compiled worker (built by `npm install` / `npm run build`).
// A password in the arguments is hidden from `ps` first, before the worker's modules load.
import { readFileSync, statSync } from 'node:fs';
import module, { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { titleWithoutPasswords } from '@maestro/secrets';
import { requireWithCodeCache } from './code-cache.js';

// V8's optimising threshold at eight times Node 20's default, as the conductor has it
// (apps/conductor/bin/maestro.js): a worker's start ran enough of its code to optimise
// it, then waited, and TurboFan's work stayed resident. An idle local worker: 63.1-63.2 MiB RSS
// instead of 67.2-67.3, its start's peak 70.5-71.3 instead of 74.7-75.3, start CPU unchanged
// (issue #27). Set here, before the bundle is compiled: V8 refuses a code cache made under
// other flags, so a setting made later would cost every start its cache.
v8.setFlagsFromString('--interrupt-budget=540672');

const title = titleWithoutPasswords(process.argv0, process.argv.slice(1));
if (title !== undefined) process.title = title;
const bundle = upToDateBundle();
// Node 22.1+ keeps compiled code on disk between runs itself; before it, code-cache.js does.
if (module.enableCompileCache) {
  module.enableCompileCache();
  if (bundle) createRequire(import.meta.url)(bundle);
} else if (bundle) requireWithCodeCache(bundle);
if (!bundle) await import('../dist/main.js');

/**
 * The one-file bundle of the worker (apps/worker/bundle.mjs), which starts in a fraction of the
 * time, if it was built after every compiled file it holds; else undefined.
 */
function upToDateBundle() {
  const bundle = fileURLToPath(new URL('../dist/maestro-worker.cjs', import.meta.url));
  try {
    const { builtAtMs, inputs } = JSON.parse(
      readFileSync(new URL('../dist/maestro-worker.inputs.json', import.meta.url), 'utf8'),
    );
    for (const file of inputs) if (statSync(file).mtimeMs > builtAtMs) return undefined;
    statSync(bundle);
    return bundle;
  } catch {
    return undefined; // not built, or made from files that are gone
  }
}
