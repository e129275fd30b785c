/**
 * A study on disk and how it is opened: its root folder, meta/study.json, the spec loaded and
 * expanded, its workspaces and scripts written, its dependencies, and its Redis session.
 */
export { checkPathDependencies, cloneGitDependencies, refText } from './dependencies.js';
export { loadStudy } from './load.js';
export type { LoadedStudy } from './load.js';
export { metaDir, readStudyMeta } from './meta.js';
export type { StudyMeta } from './meta.js';
export { reloadStudy } from './reload.js';
export { StudyRootError, createStudyRoot } from './root.js';
export {
  StudyNotRunningError,
  checkRedisAnswers,
  checkRedisForNewStudy,
  connect,
  openStudy,
  redisForNewStudy,
  redisForStudy,
  targetOf,
} from './session.js';
export type { OpenedRedis, RedisChoice } from './session.js';
export { instanceJson, writeDryRun, writeStudySkeleton } from './write.js';
