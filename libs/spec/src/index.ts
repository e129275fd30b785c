export { SpecError, SpecErrorCode, formatProblem, formatPath, isSpecError } from './errors.js';
export type { SpecProblem } from './errors.js';
export { PyFloat, PyTimestamp, pyStr, pyRepr, pyFloatRepr } from './py-values.js';
export type { PyValue } from './py-values.js';
export { loadYaml, MAX_EXPANDED_NODES, SourcePositions } from './load-yaml.js';
export type { LoadedYaml, Position, KeyPath } from './load-yaml.js';
export { parseStudy, readStudy } from './parse-study.js';
export { BUILTIN_TOKENS } from './study.js';
export type {
  Study,
  StudyStep,
  StepDependency,
  StudyVariable,
  GitDependency,
  BatchSettings,
  ParsedStudy,
  ParseStudyOptions,
  StudyReading,
} from './study.js';
export { safePathComponent, unsafeComponentReason, MAX_FOLDER_NAME_BYTES, MAX_FILE_BASE_BYTES } from './path-names.js';
export { ParameterSet, LABEL_TOKEN, parametersFromGenerator } from './parameters.js';
export type { ParameterDef } from './parameters.js';
export {
  resolveEnvironment,
  resolveDependencies,
  defaultStudyRoot,
  studyDirName,
  timestampForPath,
} from './environment.js';
export type {
  EnvironmentPlaces,
  ResolvedDependencies,
  ResolvedGitDependency,
  ResolvedPathDependency,
} from './environment.js';
export { studyProblem, sortProblems } from './problems.js';
export { RUN_COUNT_KEYS, readCount, readFlag, isWalltime, WALLTIME_FORMS } from './run-values.js';
export { expandStudy, DEFAULT_MAX_INSTANCES } from './expand-study.js';
export type { ExpandOptions } from './expand-study.js';
export { ExpandedStudy } from './expanded-study.js';
export type { ExpandedStep, StepInstance, InstanceSummary } from './expanded-study.js';
export { renderStepScript, shellOf } from './step-script.js';
export {
  parseSampleFile,
  parseNpy,
  parseTextSamples,
  sampleFileKind,
  SampleFileError,
  SAMPLE_FILE_KINDS,
} from './sample-table.js';
export type { SampleTable, SampleFileKind } from './sample-table.js';
export { sampleFolders, DEFAULT_LEVEL_MAX_DIRS } from './sample-folders.js';
export type { SampleFolders } from './sample-folders.js';
export { sampleSettings, usesSamples } from './merlin-samples.js';
export type { SampleSettings } from './merlin-samples.js';
export { merlinStudyTokens, merlinProvenanceFiles, MERLIN_INFO_DIR } from './merlin-tokens.js';
export type { MerlinProvenanceFiles, MerlinPlaces } from './merlin-tokens.js';
export { merlinProvenanceTexts } from './merlin-provenance.js';
export type { MerlinProvenanceTexts } from './merlin-provenance.js';
export { nodeHours } from './node-hours.js';
export type { NodeHours, StepNodeHours } from './node-hours.js';
export { replaceTokens, tokenNames } from './tokens.js';
export { closest, didYouMean, editDistance } from './suggest.js';
export { StudyInput, RunInput, StepInput, BATCH_TYPES } from './schema.js';
export type { RunInput as RunSettings } from './schema.js';
export { MERLIN_RETURN_CODES, merlinReturnCodeToken, usesMerlinReturnCodes } from './merlin-return-codes.js';
export type { MerlinReturnCodeName } from './merlin-return-codes.js';
