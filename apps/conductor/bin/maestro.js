#!/usr/bin/env node
// The `maestro` command: runs the compiled CLI (built by `npm install` / `npm run build`).
import '../dist/main.js';
