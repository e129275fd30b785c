// esbuild settings shared by the worker's bundle (bundle.mjs) and the conductor's
// (apps/conductor/bundle.mjs, which imports this file): build scripts only, not shipped.
import path from 'node:path';

const LEFT_OUT = 'left-out';
/**
 * msgpackr-extract is msgpackr's optional native accelerator for *unpacking*; BullMQ only packs
 * (bullmq/dist/esm/classes/redis-queue-backend.js), yet loading it cost each process ~10 ms at
 * start (node-gyp-build and detect-libc reading files). Answered here with a module that
 * exports nothing, so msgpackr's try/catch around its require() finds no extractor.
 */
export const withoutMsgpackrExtract = {
  name: 'without-msgpackr-extract',
  setup(build) {
    build.onResolve({ filter: /^msgpackr-extract$/ }, () => ({ path: 'msgpackr-extract', namespace: LEFT_OUT }));
    build.onLoad({ filter: /.*/, namespace: LEFT_OUT }, () => ({
      contents: 'module.exports = undefined;',
      loader: 'js',
    }));
  },
};

/**
 * A CommonJS bundle of ES modules: our modules find their files next to them through
 * import.meta.url (the worker's step launcher, the conductor's web folder and bin), which
 * CommonJS has not; it becomes the bundle's own file URL.
 */
export const importMetaUrlFromFilename = {
  define: { 'import.meta.url': '__maestroImportMetaUrl' },
  banner: { js: "const __maestroImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
};

/**
 * Our compiled files a bundle was made from (not node_modules', nor the modules left out above),
 * for its inputs file: a bin runs the bundle only while none of them is newer.
 */
export function ourInputs(metafile, here) {
  return Object.keys(metafile.inputs)
    .filter((p) => !p.startsWith(`${LEFT_OUT}:`))
    .map((p) => path.resolve(here, p))
    .filter((p) => !p.split(path.sep).includes('node_modules'));
}
