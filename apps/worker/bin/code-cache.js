// Runs a CommonJS bundle with V8's code cache, which Node 20 does not keep by itself
// (module.enableCompileCache arrived in 22.1; there, plain require() is cached by Node instead):
// the worker's (bin/maestro-worker.js) and the conductor's (@maestro/conductor's bin/maestro.js,
// through this package's "./code-cache" export: the conductor depends on this package already).
//
// Why: compiling the 2.7 MB bundle is a third of a worker's start, and every `maestro run`
// waits for a worker to start. With the cache, `maestro-worker --idle-timeout 1ms` took 0.15 s
// of CPU instead of 0.26 s, and peaked 7 MiB lower (no parse of the whole source).
// Not the v8-compile-cache package: it saves what V8 compiled before the code ran, which for a
// bundle (every module wrapped in a function compiled on first call) is almost nothing; this
// saves the cache as the process exits, with every function its start compiled.
//
// The cache is one file per bundle build, Node version, V8 flags (local workers run with their
// own) and variant (the conductor's command: each compiles its own part of the bundle), in
// dist/.code-cache if the install is writable, else in the temporary folder. V8 checks the rest
// itself: a cache it rejects is only compiled over, and written again.
import {
  accessSync,
  constants,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';

/**
 * Runs `file` (a CommonJS module) as require() would, through its code cache. The cache holds the
 * functions the run that wrote it compiled: a `variant` of its own for each different path
 * through the bundle.
 */
export function requireWithCodeCache(file, variant = '') {
  // The cache before the source: glibc raises its mmap threshold to the size of each large block
  // it gives back, so a 2.4 MB cache read after the 2.7 MB source landed in the C heap, and
  // stayed resident once freed (an idle local worker: 60.1-60.4 MiB RSS instead of 62.4-62.7,
  // the C heap 3.9-4.5 MiB instead of 6.3).
  const cacheFile = cachePath(file, variant);
  let cachedData;
  try {
    cachedData = cacheFile && readFileSync(cacheFile);
  } catch {
    // none yet
  }
  const source = readFileSync(file, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
    // bullmq's sandboxed processors (unused here) would import() a file. Only without a cache:
    // on Node 20 an import() in code read from one fails ("A dynamic import callback was not
    // specified"), which is why the conductor's bin lends its bundle an import() of its own.
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (cacheFile && (!cachedData || script.cachedDataRejected)) {
    process.once('exit', () => writeAtomically(cacheFile, () => script.createCachedData()));
  }
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, createRequire(file), mod, file, path.dirname(file));
  return mod.exports;
}

/** Where this bundle's cache lives for this Node, these flags and variant; undefined if nowhere. */
function cachePath(file, variant) {
  try {
    const { mtimeMs, size } = statSync(file);
    const key = createHash('sha256')
      .update(JSON.stringify([file, process.version, process.arch, process.execArgv, variant]))
      .digest('hex')
      .slice(0, 16);
    const build = `${path.basename(file)}.${Math.round(mtimeMs)}-${size}`;
    return path.join(cacheDir(path.join(path.dirname(file), '.code-cache')), `${build}.${key}`);
  } catch {
    return undefined;
  }
}

/**
 * A folder only this user can write: code read from a cache runs as this process, so a folder
 * another user could write to (a shared install, a planted /tmp folder) is never used.
 */
function cacheDir(beside) {
  for (const dir of [beside, path.join(os.tmpdir(), `maestro-code-cache-${process.getuid?.()}`)]) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      accessSync(dir, constants.W_OK);
      const st = statSync(dir);
      if (st.uid === process.getuid?.() && (st.mode & 0o022) === 0) return dir;
    } catch {
      // read-only install: the next one
    }
  }
  throw new Error('no folder of our own for the code cache');
}

/**
 * Many workers start at once: each writes its own file, and the last rename wins whole. The
 * caches of earlier builds of the bundle go.
 */
function writeAtomically(file, data) {
  try {
    const tmp = `${file}.${process.pid}`;
    writeFileSync(tmp, data());
    renameSync(tmp, file);
    // `<bundle>.<mtime>-<size>.<key>`: another build of the same bundle has another middle.
    const name = /^(.*)\.(\d+-\d+)\.[0-9a-f]{16}$/;
    const [, bundle, build] = name.exec(path.basename(file)) ?? [];
    for (const other of readdirSync(path.dirname(file))) {
      const m = name.exec(other);
      if (m && m[1] === bundle && m[2] !== build) rmSync(path.join(path.dirname(file), other), { force: true });
    }
  } catch {
    // a cache is only ever a speed-up
  }
}
