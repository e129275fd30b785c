#!/usr/bin/env node
// The `maestro` command: runs the compiled CLI (built by `npm install` / `npm run build`).
// A password in the arguments is hidden from `ps` first, before the CLI's modules load.
import { readFileSync, statSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { titleWithoutPasswords } from '@maestro/secrets';
import { requireWithCodeCache } from '@maestro/worker/code-cache';

// V8's young generation kept at its first size (1 MiB a half) instead of growing to 16: on a
// 10,000-step study the conductor peaked at 107-109 MiB instead of 131, for 7-10% more of its
// CPU (docs/performance.md). `--max-semi-space-size=1` does the same but only on Node's command
// line; V8 reads the growth factor at each growth, and refuses a factor under 2 on the command
// line only, so set here it holds from the first allocation on.
v8.setFlagsFromString('--semi-space-growth-factor=1');
// V8 optimises a function once it has run about 66 KB of bytecode (Node 20's default). A
// conductor's code runs in bursts (start-up, a status write a second, a batch of results), and
// at that threshold much of its CPU went to compiling code that was cold again a second later
// (docs/performance.md). At eight times the threshold what a long study keeps running is still
// optimised. Set here, before the bundle is compiled: V8 refuses a code cache made under other
// flags, and set by the bundle's first module (as it was) every start's cache was refused.
v8.setFlagsFromString('--interrupt-budget=540672');
// V8's old generation grown by 20% per full collection, not up to 4x, while a command reads,
// expands and writes a study (src/run/heap-growth.ts gives V8 its own factor back while the study
// runs, and says why).
v8.setFlagsFromString('--heap-growing-percent=20');

const title = titleWithoutPasswords(process.argv0, process.argv.slice(1));
if (title !== undefined) process.title = title;
const bundle = upToDateBundle();
// Node 22.1+ keeps compiled code on disk between runs, ES modules' too: the ES bundle, whose
// commands load by chunk. Node 20 keeps none for ES modules: the CommonJS bundle, through V8's
// code cache (the worker's bin does the same).
if (module.enableCompileCache) {
  module.enableCompileCache();
  await import(bundle?.esm ?? '../dist/main.js');
} else if (bundle) {
  // An import() in code read from V8's code cache fails on Node 20 ("A dynamic import callback
  // was not specified": Node's loader is not kept with the cache), so the bundle imports a
  // parameter generator's module (pgen/module-generator.ts) through this one's, which resolves
  // from the conductor's package as the bundle would.
  globalThis[Symbol.for('maestro.import')] = (specifier) => import(specifier);
  requireWithCodeCache(bundle.cjs, cacheVariant(process.argv[2]));
} else await import('../dist/main.js');

/**
 * Each command its own code cache: a cache holds what the run that wrote it compiled, and one
 * written by `maestro --version` (0.84 MB, against a run's 2.98) left `maestro run` compiling
 * most of its code. Other arguments (options, mistakes) share one.
 */
function cacheVariant(command) {
  const commands = ['expand', 'validate', 'run', 'resume', 'status', 'cancel', 'update', 'dashboard', 'workers'];
  return commands.includes(command) ? command : '';
}

/**
 * The bundled CLI (apps/conductor/bundle.mjs), which starts in a fraction of the time, if it was
 * built after every compiled file it holds; else undefined.
 */
function upToDateBundle() {
  try {
    const { builtAtMs, inputs } = JSON.parse(
      readFileSync(new URL('../dist/bundle/inputs.json', import.meta.url), 'utf8'),
    );
    for (const file of inputs) if (statSync(file).mtimeMs > builtAtMs) return undefined;
    const esm = new URL('../dist/bundle/main.js', import.meta.url);
    const cjs = fileURLToPath(new URL('../dist/bundle/maestro.cjs', import.meta.url));
    statSync(esm);
    statSync(cjs);
    return { esm: esm.href, cjs };
  } catch {
    return undefined; // not built, or made from files that are gone
  }
}
