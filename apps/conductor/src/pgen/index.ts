/**
 * `--pgen FILE --pargs KEY:VALUE ...`: parameters from a generator instead of the spec's
 * `global.parameters`. Three kinds of generator, picked by the file: an original Maestro
 * Python pgen (`.py`), a JavaScript/TypeScript module, or any executable printing JSON.
 */
export { runParameterGenerator } from './run-parameter-generator.js';
export { parsePargs } from './pargs.js';
export { PgenError, PgenErrorCode, isPgenError } from './errors.js';
export type { PgenContext, PgenModuleInput, PgenModuleOutput } from './context.js';
