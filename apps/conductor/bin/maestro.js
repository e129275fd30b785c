#!/usr/bin/env node
// The `maestro` command: runs the compiled CLI (built by `npm install` / `npm run build`).
// A password in the arguments is hidden from `ps` first, before the CLI's modules load.
import { readFileSync, statSync } from 'node:fs';
import module from 'node:module';
import { titleWithoutPasswords } from '@maestro/secrets';

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
