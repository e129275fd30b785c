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
