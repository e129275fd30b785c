// `npm run bundle` (part of `npm run build`): compiles native/launcher.c into
// dist/maestro-launcher where a C compiler is found. Optional: without one (or if the result
// does not run), the worker starts its steps through scripts/launcher.sh, the same protocol.
//
// Static where the C library allows it, so a binary built on a login node also runs on compute
// nodes with an older C library; the worker checks it with `--check` before using it anyway.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = path.join(here, 'native', 'launcher.c');
const out = path.join(here, 'dist', 'maestro-launcher');
mkdirSync(path.dirname(out), { recursive: true });

const compilers = [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean);
const attempts = compilers.flatMap((cc) => [
  [cc, ['-O2', '-static', '-o', out, source]],
  [cc, ['-O2', '-o', out, source]],
]);
let built = false;
for (const [cc, args] of attempts) {
  try {
    execFileSync(cc, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    if (execFileSync(out, ['--check'], { encoding: 'utf8' }) === 'ok\n') {
      built = true;
      break;
    }
  } catch {
    // next compiler or flags
  }
}
if (!built) {
  rmSync(out, { force: true });
  console.warn('maestro-worker: no C compiler built native/launcher.c; steps start through scripts/launcher.sh');
}
