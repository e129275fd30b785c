/**
 * The spec copies Merlin writes into merlin_info/ for provenance (merlin/study/study.py
 * `expanded_spec`): `<base>.orig.yaml` is the file as written (the app copies it),
 * `<base>.partial.yaml` the spec with its variables and labels resolved, and
 * `<base>.expanded.yaml` the spec with every variable, label and study-wide token substituted.
 * Merlin writes both from its own YAML dump; we keep the user's text and layout and change only
 * the values and tokens, so the copies diff cleanly against the original.
 */
import { isMap, parseDocument } from 'yaml';
import type { Study } from './study.js';
import { replaceTokens } from './tokens.js';

export interface MerlinProvenanceTexts {
  /** `$(MERLIN_SPEC_EXECUTED_RUN)`: `env.variables` and `env.labels` hold their resolved values. */
  readonly executed: string;
  /** `$(MERLIN_SPEC_ARCHIVED_COPY)`: every token the study environment knows, substituted line by line. */
  readonly archived: string;
}

/** `tokens`: the study's resolved environment (resolveEnvironment with `merlin` places). */
export function merlinProvenanceTexts(study: Study, tokens: ReadonlyMap<string, string>): MerlinProvenanceTexts {
  const doc = parseDocument(study.text);
  const env = doc.get('env');
  for (const section of ['variables', 'labels']) {
    const block = isMap(env) ? env.get(section) : undefined;
    if (!isMap(block)) continue;
    for (const v of study.variables) {
      const value = tokens.get(v.name);
      if (value !== undefined && block.has(v.name)) block.set(v.name, value);
    }
  }
  return { executed: doc.toString(), archived: replaceTokens(study.text, (name) => tokens.get(name)) };
}
