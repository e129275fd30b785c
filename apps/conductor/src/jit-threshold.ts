/**
 * Imported first by main.ts, so that it runs before the code of any other module: every way the
 * conductor starts (`maestro`, and the background conductor of `run --detach`) gets it.
 *
 * V8 optimises a function once it has run about 66 KB of bytecode (Node 20's default). A
 * conductor's code runs in bursts (start-up, a status write a second, a batch of results), and
 * at that threshold much of its CPU went to compiling code that was cold again a second later
 * (docs/performance.md). At eight times the threshold what a long study keeps running is still
 * optimised.
 */
import v8 from 'node:v8';

v8.setFlagsFromString('--interrupt-budget=540672');
