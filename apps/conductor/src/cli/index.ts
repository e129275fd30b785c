/**
 * The command line: one module per command, which main.ts loads only when that command runs, and
 * the options several commands share. A command imports the modules it uses directly, not through
 * their folder's index, so that it loads only what it runs (start-up is most of a short command).
 */
export { addAllocationOptions, addAutoscaleOptions } from './allocation-options.js';
export { endOnClosedPipe } from './closed-pipe.js';
export { addExecutionOptions, addSpecOptions, durationOption, wholeNumber } from './common.js';
export { addRedisOptions } from './redis-options.js';
