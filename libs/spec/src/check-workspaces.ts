/** The workspace folders of a parameterized step: inside the step folder, and one per instance. */
import { SpecErrorCode } from './errors.js';
import type { ParameterSet } from './parameters.js';
import { comboString } from './parameter-tokens.js';
import { safePathComponent, unsafeComponentReason } from './path-names.js';
import type { ProblemList } from './problems.js';

/** Workspace folders must stay inside the step folder and not collide after cleaning. */
export function checkWorkspaceNames(
  parameters: ParameterSet,
  used: readonly string[],
  rows: Int32Array,
  stepName: string,
  hash: boolean,
  problems: ProblemList,
  stepPath: (string | number)[],
): void {
  if (hash) return; // md5 names are always safe and distinct
  const MAX_REPORTED = 10;
  let reported = 0;
  let anyCleaned = false;
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k]!;
    const combo = comboString(parameters, used, row);
    const reason = unsafeComponentReason(combo);
    if (reason) {
      if (reported++ < MAX_REPORTED) {
        const culprit = used.find((key) => unsafeComponentReason(parameters.label(key, row)) !== undefined) ?? used[0]!;
        problems.error(
          SpecErrorCode.UnsafePath,
          ['global.parameters', culprit, 'values', row],
          `the workspace name '${combo}' of step '${stepName}' ${reason}`,
          "parameter labels must name a folder: no NUL, and not '.' or '..'",
        );
      }
    } else if (!anyCleaned && safePathComponent(combo) !== combo) anyCleaned = true;
  }
  // Distinct labels can only meet in one folder if cleaning dropped characters somewhere.
  if (anyCleaned) {
    const seen = new Map<string, string>();
    for (let k = 0; k < rows.length; k++) {
      const combo = comboString(parameters, used, rows[k]!);
      const safe = safePathComponent(combo);
      const other = seen.get(safe);
      if (other === undefined) seen.set(safe, combo);
      else if (reported++ < MAX_REPORTED) {
        problems.error(
          SpecErrorCode.DuplicateWorkspace,
          stepPath,
          `instances '${stepName}_${other}' and '${stepName}_${combo}' would share the workspace '${safe}' (characters outside letters, digits and -_.() are dropped from folder names)`,
          'make the labels differ in letters or digits, or run with --hashws',
        );
      }
    }
  }
  if (reported > MAX_REPORTED) {
    problems.error(
      SpecErrorCode.UnsafePath,
      stepPath,
      `... and ${reported - MAX_REPORTED} more workspace problems in step '${stepName}'`,
      'fix the ones above first',
    );
  }
}
