/**
 * A password given on the command line (`--redis redis://:pw@host`) is readable by every user of
 * the machine through `ps` and /proc/PID/cmdline. This rewrites the process title (which is what
 * both show) with such passwords replaced by `***`. The bin script calls it before loading
 * anything else, so the password is visible only for the few milliseconds Node takes to start;
 * a password file or the environment (MAESTRO_REDIS_URL) never shows at all.
 */

/** `//user:secret@` -> `//user:***@`, in any argument (also `--redis=redis://...`). */
const URL_PASSWORD = /(\/\/[^/:@\s]*:)[^/@\s]+@/g;

/** The arguments with every URL password replaced by `***`. */
export function redactArgv(argv: readonly string[]): string[] {
  return argv.map((a) => a.replace(URL_PASSWORD, '$1***@'));
}

/** Rewrites the process title if an argument holds a URL password; true if it did. */
export function hidePasswordsFromPs(): boolean {
  const [, ...args] = process.argv;
  const redacted = redactArgv(args);
  if (redacted.every((a, k) => a === args[k])) return false;
  // Linux keeps the title in the memory of the original arguments: it can only be as long as
  // they were, and `***` replaces a password of at least one character, so little is cut.
  process.title = [process.argv0, ...redacted].join(' ');
  return true;
}
