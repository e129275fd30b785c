export { loadStudy } from './load-study.js';
export type { LoadStudyOptions, LoadedStudy } from './load-study.js';
