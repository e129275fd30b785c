export { loadStudy } from './study/load.js';
export type { LoadStudyOptions, LoadedStudy } from './study/load.js';
