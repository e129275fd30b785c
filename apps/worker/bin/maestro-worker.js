#!/usr/bin/env node
// The `maestro-worker` command: runs the compiled worker (built by `npm install` / `npm run build`).
import '../dist/main.js';
