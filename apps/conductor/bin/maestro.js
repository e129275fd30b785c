#!/usr/bin/env node
// The `maestro` command: runs the compiled CLI (built by `npm install` / `npm run build`).
import v8 from 'node:v8';
import { hidePasswordsFromPs } from '../dist/ps-title.js';

// V8 optimises a function once it has run about 66 KB of bytecode (Node 20's default). A
// conductor's code runs in bursts: at that threshold V8 spent a third of a 1,000-link chain's
// conductor CPU compiling code that was cold again a second later (README, Performance).
// Eight times the threshold still optimises what a long study keeps running.
v8.setFlagsFromString('--interrupt-budget=540672');
// A password in the arguments is hidden from `ps` first, before the CLI's modules load.
hidePasswordsFromPs();
await import('../dist/main.js');
