/** What a study specification becomes once read and checked: the types parse gives to expansion. */
import type { SpecProblem } from './errors.js';
import type { SourcePositions } from './load-yaml.js';
import type { ParameterSet } from './parameters.js';
import type { RunInput } from './schema.js';

/** A `depends:` entry: `name` waits for the matching instance, `name_*` for all of them. */
export interface StepDependency {
  /** The parent step's name. */
  readonly step: string;
  /** True for a funnel (`name_*` or `name*`): wait for every instance of the parent. */
  readonly funnel: boolean;
  /** As written in the spec. */
  readonly written: string;
}

export interface StudyStep {
  readonly name: string;
  readonly description: string;
  /** Position in the file's `study:` list. */
  readonly fileIndex: number;
  readonly run: RunInput;
  readonly depends: readonly StepDependency[];
}

/** An env variable or label, with its value as text (Python str()), not yet substituted. */
export interface StudyVariable {
  readonly name: string;
  readonly value: string;
  readonly kind: 'variable' | 'label';
}

export interface GitDependency {
  readonly name: string;
  readonly path: string;
  readonly url: string;
  readonly tag?: string | undefined;
  readonly hash?: string | undefined;
  readonly branch?: string | undefined;
}

export interface BatchSettings {
  /**
   * `batch.type` as written (`local` if none): any text loads, as in Maestro, whose conductor
   * only looks the adapter up when it launches; see {@link BATCH_TYPES} for the known ones.
   */
  readonly type: string;
  /** Interpreter of generated step scripts. @default '/bin/bash' */
  readonly shell: string;
  /** Every key of the `batch:` block as written (bank, queue, nodes, ...). */
  readonly settings: Readonly<Record<string, unknown>>;
}

export interface Study {
  readonly name: string;
  readonly description: string;
  /** The spec file as given, for messages. */
  readonly file: string | undefined;
  /** The spec text as parsed (copied into the study root). */
  readonly text: string;
  readonly batch: BatchSettings;
  /** Variables and labels in file order, without OUTPUT_PATH. */
  readonly variables: readonly StudyVariable[];
  /** The OUTPUT_PATH variable as written, if any. */
  readonly outputPath: string | undefined;
  readonly pathDependencies: readonly { readonly name: string; readonly path: string }[];
  readonly gitDependencies: readonly GitDependency[];
  /** Steps in file order (each knows its place in the file's `study:` list, `fileIndex`). */
  readonly steps: readonly StudyStep[];
  /** Indices into `steps`, parents before children, file order among independent steps. */
  readonly order: readonly number[];
  /** `global.parameters`, if the spec has any. */
  readonly parameters: ParameterSet | undefined;
  /** The `merlin:` block, if any (Merlin specs); behaviour comes later. */
  readonly merlin: Readonly<Record<string, unknown>> | undefined;
  /** Where each key came from, for problems found later (expansion). */
  readonly positions: SourcePositions;
  /**
   * Only in the partial study {@link readStudy} gives with errors: the names (variables, labels,
   * dependencies, parameters, steps) whose definitions are left out for their problems. Later
   * checks skip what uses them instead of calling them unknown too.
   */
  readonly unusableNames?: ReadonlySet<string> | undefined;
}

export interface ParsedStudy {
  readonly study: Study;
  /** Suspicious but accepted: unknown batch keys, duplicate YAML keys, ... */
  readonly warnings: readonly SpecProblem[];
}

/** A spec read as far as it can be: the study (what is usable of it), and every problem found. */
export interface StudyReading {
  /**
   * The study; when there are errors, made of the parts that are usable despite them. Undefined
   * when the file is not a YAML mapping.
   */
  readonly study: Study | undefined;
  /** Every problem found, in file order; the study is only runnable when there is none. */
  readonly errors: readonly SpecProblem[];
  /** Suspicious but accepted: unknown batch keys, duplicate YAML keys, ... */
  readonly warnings: readonly SpecProblem[];
}

export interface ParseStudyOptions {
  /** File name shown in problems. */
  readonly file?: string | undefined;
}

/** Names that `$(NAME)` resolves to without being declared. */
export const BUILTIN_TOKENS = ['OUTPUT_PATH', 'SPECROOT', 'WORKSPACE', 'LAUNCHER'] as const;
