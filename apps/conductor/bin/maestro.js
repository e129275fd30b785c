#!/usr/bin/env node
// The `maestro` command: runs the compiled CLI (built by `npm install` / `npm run build`).
// A password in the arguments is hidden from `ps` first, before the CLI's modules load.
import { titleWithoutPasswords } from '@maestro/secrets';

const title = titleWithoutPasswords(process.argv0, process.argv.slice(1));
if (title !== undefined) process.title = title;
await import('../dist/main.js');
