/**
 * A password given on the command line (`--redis redis://:pw@host`) is readable by every user of
 * the machine through `ps` and /proc/PID/cmdline. Both show the process title, which each bin
 * script rewrites before loading anything else (so the password shows only for the moment Node
 * takes to start); a password file or the environment (MAESTRO_REDIS_URL, MAESTRO_DASHBOARD_AUTH)
 * never shows at all.
 */

/** `//user:secret@` -> `//user:***@`, in any argument (also `--redis=redis://...`). */
const URL_PASSWORD = /(\/\/[^/:@\s]*:)[^/@\s]+@/g;

/** The sentinels' password in a `redis+sentinel://...?sentinelPassword=pw` URL. */
const SENTINEL_PASSWORD = /([?&]sentinelPassword=)[^&#\s]+/g;

/** Options whose value is `user:password` (`maestro dashboard --auth`). */
const CREDENTIAL_OPTIONS = new Set(['--auth']);

/** `user:secret` -> `user:***`; a value without a colon is all secret. */
function hideCredentials(value: string): string {
  const k = value.indexOf(':');
  return k < 0 ? '***' : `${value.slice(0, k)}:***`;
}

/** The arguments with every URL password, and the password of every `--auth user:pw`, replaced by `***`. */
export function redactArgv(argv: readonly string[]): string[] {
  return argv.map((a, k) => {
    const prev = k > 0 ? argv[k - 1]! : '';
    if (CREDENTIAL_OPTIONS.has(prev)) return hideCredentials(a);
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0 && CREDENTIAL_OPTIONS.has(a.slice(0, eq))) {
      return `${a.slice(0, eq + 1)}${hideCredentials(a.slice(eq + 1))}`;
    }
    return a.replace(URL_PASSWORD, '$1***@').replace(SENTINEL_PASSWORD, '$1***');
  });
}

/**
 * The process title to set so that `ps` shows no password (`argv0` and the arguments after the
 * script, redacted), or undefined when no argument holds one. Linux keeps the title in the
 * memory of the original arguments, so it can be only as long as they were; `***` replaces a
 * password of at least one character, so little is cut.
 */
export function titleWithoutPasswords(argv0: string, args: readonly string[]): string | undefined {
  const redacted = redactArgv(args);
  if (redacted.every((a, k) => a === args[k])) return undefined;
  return [argv0, ...redacted].join(' ');
}
