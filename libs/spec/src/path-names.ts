/**
 * Names that become folder and file names: Maestro's make_safe_path, and the names that would
 * leave their folder or vanish once cleaned.
 */

/** Characters Maestro keeps in directory names (utils.make_safe_path). */
const SAFE_PATH_CHARS = /[^-_.() A-Za-z0-9]/g;

const ALREADY_SAFE = /^[-_.()A-Za-z0-9]*$/;

/** Maestro's make_safe_path for one path component: drop other characters, spaces to `_`. */
export function safePathComponent(s: string): string {
  if (ALREADY_SAFE.test(s)) return s;
  return s.replace(SAFE_PATH_CHARS, '').replace(/ /g, '_');
}

/** Why a path component would leave its folder or vanish, or undefined if it is safe. */
export function unsafeComponentReason(raw: string): string | undefined {
  if (raw.includes('\0')) return 'contains a NUL character';
  const safe = safePathComponent(raw);
  if (safe === '') return 'has no letters or digits left to name a folder';
  if (safe === '.' || safe === '..') return `would be the folder '${safe}', outside its place in the study`;
  return undefined;
}

/** The longest file or folder name Linux file systems take (NAME_MAX), in bytes. */
export const MAX_FOLDER_NAME_BYTES = 255;

/**
 * The longest base of a step's file names, in bytes: the worker adds `.restart.sh` or
 * `.out.<n>` to it, and the result must stay within {@link MAX_FOLDER_NAME_BYTES}. The same limit
 * as @maestro/protocol's `StepJob.fileName`, which refuses a longer one when the step is queued.
 */
export const MAX_FILE_BASE_BYTES = 240;

const utf8 = new TextEncoder();

/** UTF-8 length; ASCII text (what safePathComponent leaves) without encoding it. */
export function byteLength(text: string): number {
  return /[\u0080-\uffff]/.test(text) ? utf8.encode(text).length : text.length;
}

/** `'aaaa...aaa' (10,000 characters)`: a long name, shortened for a message. */
export function longName(name: string): string {
  const shown = name.length > 40 ? `${name.slice(0, 20)}...${name.slice(-12)}` : name;
  return `'${shown}' (${name.length.toLocaleString('en-US')} characters)`;
}
