/**
 * Running a study in this process: the conductor wired to Redis, its local workers, its log,
 * its status files and the progress shown on the terminal.
 */
export { DEFAULT_BUNDLE, DEFAULT_WINDOW, EXIT_CODES, conduct } from './conduct.js';
export { makeLogger } from './log.js';
export { Terminal } from './terminal.js';
