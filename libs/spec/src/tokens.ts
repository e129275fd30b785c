/**
 * `$(NAME)` tokens. A token is `$(` + a name without blanks, `$` or parentheses + `)`, so that in
 * `$(cat $(WORKSPACE)/x)` only the inner `$(WORKSPACE)` is a token. Tokens we do not know
 * (`$(date)`) are left as they are: bash runs them as command substitutions.
 */
const TOKEN_RE = /\$\(([^\s$()]+)\)/g;

/** Replaces every token whose name `lookup` knows; leaves the others verbatim. One pass. */
export function replaceTokens(text: string, lookup: (name: string) => string | undefined): string {
  if (!text.includes('$(')) return text;
  return text.replace(TOKEN_RE, (whole, name: string) => lookup(name) ?? whole);
}

/** Names of every token in `text`, in order, with repeats. */
export function tokenNames(text: string): string[] {
  const out: string[] = [];
  if (!text.includes('$(')) return out;
  for (const m of text.matchAll(TOKEN_RE)) out.push(m[1]!);
  return out;
}

const WORKSPACE_SUFFIX = '.workspace';

/** For `$(step.workspace)` tokens: the step name, else undefined. */
export function workspaceTokenStep(name: string): string | undefined {
  return name.endsWith(WORKSPACE_SUFFIX) && name.length > WORKSPACE_SUFFIX.length
    ? name.slice(0, -WORKSPACE_SUFFIX.length)
    : undefined;
}

/** Calls `visit` on every string inside a value (strings, arrays, objects), depth first. */
export function forEachString(value: unknown, visit: (s: string) => void): void {
  if (typeof value === 'string') visit(value);
  else if (Array.isArray(value)) for (const v of value) forEachString(v, visit);
  else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) forEachString(v, visit);
  }
}

/** A copy of `value` with `fn` applied to every string inside it. */
export function mapStrings<T>(value: T, fn: (s: string) => string): T {
  if (typeof value === 'string') return fn(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => mapStrings(v, fn)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, { value: mapStrings(v, fn), enumerable: true, writable: true, configurable: true });
    }
    return out as T;
  }
  return value;
}
