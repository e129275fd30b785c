/**
 * The Redis password must never reach a log line, a message, a status file, `ps` or a step's
 * environment. URLs are shown only through {@link redactUrl} or stored through
 * {@link withoutPassword}; loggers pass every line through {@link scrub} as a last defence.
 * Conductor and worker use these same functions, so both hide the same things.
 */

/** The URL with its password replaced by `***` (user names stay: they help debugging). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    // Not a URL: hide anything that looks like `:secret@`.
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/** The URL without its password, for meta files and batch scripts. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    // Not a URL: whatever sits between `//` and `@` may be credentials.
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

/** The password in a URL, decoded, if it holds one. */
export function urlPassword(url: string): string | undefined {
  try {
    const pw = new URL(url).password;
    return pw ? decodeURIComponent(pw) : undefined;
  } catch {
    return undefined;
  }
}

/** Every form in which a secret could appear in text: as is, URL-encoded, JSON-escaped. */
export function secretForms(secrets: readonly (string | undefined)[]): string[] {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
    forms.add(JSON.stringify(s).slice(1, -1));
  }
  return [...forms].filter((f) => f.length > 0);
}

/** `text` with every secret form (from {@link secretForms}) replaced by `***`. */
export function scrub(text: string, forms: readonly string[]): string {
  let out = text;
  for (const f of forms) if (out.includes(f)) out = out.split(f).join('***');
  return out;
}
