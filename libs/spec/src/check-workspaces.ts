/** The workspace folders of a parameterized step: inside the step folder, and one per instance. */
import { SpecErrorCode } from './errors.js';
import type { ParameterSet } from './parameters.js';
import { comboString } from './parameter-tokens.js';
import {
  longName,
  MAX_FILE_BASE_BYTES,
  MAX_FOLDER_NAME_BYTES,
  safePathComponent,
  unsafeComponentReason,
} from './path-names.js';
import type { ProblemList } from './problems.js';

/**
 * One instance of an unparameterized step: its script and output files are named after the step
 * (`<step>.sh`, `<step>.restart.sh`, `<step>.out.<n>`). A step name too long for its folder was
 * reported when the spec was read.
 */
export function checkStepFileName(stepName: string, problems: ProblemList, stepPath: (string | number)[]): void {
  const base = safePathComponent(stepName);
  if (base.length <= MAX_FILE_BASE_BYTES || base.length > MAX_FOLDER_NAME_BYTES) return;
  problems.error(
    SpecErrorCode.NameTooLong,
    [...stepPath, 'name'],
    `step name ${longName(stepName)} is too long to name the step's script and output files (${base.length} bytes before .restart.sh or .out.<n>)`,
    FILE_BASE_ALLOWED,
  );
}

const FILE_BASE_ALLOWED = `at most ${MAX_FILE_BASE_BYTES} bytes, which leaves room for .restart.sh and .out.<n> within the ${MAX_FOLDER_NAME_BYTES} bytes of a file name`;

/**
 * Workspace folders must stay inside the step folder, not collide after cleaning, and fit in a
 * folder name; the instances' files, named `<step>_<labels>`, must fit in a file name. With
 * --hashws both are md5 names, always safe, distinct and short.
 */
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
  const stepFolder = safePathComponent(stepName);
  // A step name too long for its folder was reported when the spec was read; every instance
  // would repeat it.
  let fileRoom = stepFolder.length > MAX_FOLDER_NAME_BYTES ? Infinity : MAX_FILE_BASE_BYTES - stepFolder.length - 1;
  if (fileRoom < 1) {
    // No instance name fits, whatever its labels: once for the step, not once per instance.
    problems.error(
      SpecErrorCode.NameTooLong,
      [...stepPath, 'name'],
      `step name ${longName(stepName)} leaves no room for the labels in its instances' file names (<step>_<labels>)`,
      `${FILE_BASE_ALLOWED}; shorten the step name, or run with --hashws to name the files by the md5 of the labels`,
    );
    fileRoom = Infinity;
  }
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k]!;
    const combo = comboString(parameters, used, row);
    // Cleaning only drops characters (each kept one is one byte): short labels need no more.
    if (combo.length > fileRoom) {
      const tooLong = instanceNameTooLong(parameters, used, row, stepName, combo, fileRoom, stepPath);
      if (tooLong && reported++ < MAX_REPORTED) {
        problems.error(SpecErrorCode.NameTooLong, tooLong.path, tooLong.message, tooLong.allowed);
      }
    }
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

/**
 * A parameterized instance's workspace folder is named by its labels (at most 255 bytes) and its
 * files by `<step>_<labels>` (at most 240 bytes plus suffixes): what does not fit, if anything.
 */
function instanceNameTooLong(
  parameters: ParameterSet,
  used: readonly string[],
  row: number,
  stepName: string,
  combo: string,
  fileRoom: number,
  stepPath: (string | number)[],
): { path: (string | number)[]; message: string; allowed: string } | undefined {
  const leaf = safePathComponent(combo);
  const instance = longName(`${stepName}_${combo}`);
  const hint =
    'shorten the step name, the labels (label: KEY.%%) or the values, or run with --hashws to name workspaces and files by the md5 of their labels';
  if (leaf.length > MAX_FOLDER_NAME_BYTES) {
    // The parameter whose label takes the most room.
    let culprit = used[0]!;
    for (const key of used)
      if (parameters.label(key, row).length > parameters.label(culprit, row).length) culprit = key;
    return {
      path: ['global.parameters', culprit, 'values', row],
      message: `the workspace folder of instance ${instance} is named by its labels: ${leaf.length} bytes, too long for a folder name`,
      allowed: `at most ${MAX_FOLDER_NAME_BYTES} bytes; ${hint}`,
    };
  }
  if (leaf.length <= fileRoom) return undefined;
  return {
    path: [...stepPath, 'name'],
    message: `instance ${instance} names its script and output files after itself: ${MAX_FILE_BASE_BYTES - fileRoom + leaf.length} bytes before .restart.sh or .out.<n>`,
    allowed: `${FILE_BASE_ALLOWED}; ${hint}`,
  };
}
