#!/usr/bin/env node
// The `maestro` command: runs the compiled CLI (built by `npm install` / `npm run build`).
// A password in the arguments is hidden from `ps` first, before the CLI's modules load.
import { readFileSync, statSync } from 'node:fs';
import module from 'node:module';
import v8 from 'node:v8';
import { titleWithoutPasswords } from '@maestro/secrets';

// V8's young generation kept at its first size (1 MiB a half) instead of growing to 16: on a
// 10,000-step study the conductor peaked at 107-109 MiB instead of 131, for 7-10% more of its
// CPU (docs/performance.md). `--max-semi-space-size=1` does the same but only on Node's command
// line; V8 reads the growth factor at each growth, and refuses a factor under 2 on the command
// line only, so set here it holds from the first allocation on.
v8.setFlagsFromString('--semi-space-growth-factor=1');

const title = titleWithoutPasswords(process.argv0, process.argv.slice(1));
if (title !== undefined) process.title = title;
// Node 22.1+ keeps compiled code on disk between runs; Node 20 has no cache for ES modules.
module.enableCompileCache?.();
await import(upToDateBundle() ?? '../dist/main.js');

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
    const entry = new URL('../dist/bundle/main.js', import.meta.url);
    statSync(entry);
    return entry.href;
  } catch {
    return undefined; // not built, or made from files that are gone
  }
}
