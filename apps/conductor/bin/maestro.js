#!/usr/bin/env node
// The `maestro` command: runs the compiled CLI (built by `npm install` / `npm run build`).
// A password in the arguments is hidden from `ps` first, before the CLI's modules load.
import { hidePasswordsFromPs } from '../dist/ps-title.js';

hidePasswordsFromPs();
await import('../dist/main.js');
