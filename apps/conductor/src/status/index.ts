/**
 * What a study looks like from its folder: the status files the conductor keeps (status.csv,
 * status.json, its heartbeat), whether a conductor still drives it, and the table, colours and
 * views `maestro status` prints from them.
 */
export { clipLine, makePalette, shouldColour } from './colour.js';
export type { ColourChoice } from './colour.js';
export { errFileOf, readTail } from './file-tail.js';
export type { FileTail } from './file-tail.js';
export { HEARTBEAT_MS, StatusFiles } from './files.js';
export type { ConductorHeartbeat, StatusJson } from './files.js';
export { conductorNotice, judgeConductor } from './liveness.js';
export type { ConductorLiveness, ConductorState, LivenessFacts } from './liveness.js';
export { formatStatusTable, readStatusCsv } from './table.js';
export type { StatusCsvRow } from '@maestro/protocol';
export { isEndedState, renderStudyStatus } from './view.js';
export type { StudyStatusInput } from './view.js';
export { formatDuration } from './duration.js';
export { formatCount } from './count.js';
export { analyseByParam, describeStandout, formatByParam, samplesFromStatusRows } from './by-param.js';
export type { ByParamReport, ParamSample, Standout, ValueStats } from './by-param.js';
