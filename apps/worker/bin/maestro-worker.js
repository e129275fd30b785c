#!/usr/bin/env node
// The `maestro-worker` command: runs the compiled worker (built by `npm install` / `npm run build`).
// A password in the arguments is hidden from `ps` first, before the worker's modules load.
import { hidePasswordsFromPs } from '../dist/ps-title.js';

hidePasswordsFromPs();
await import('../dist/main.js');
