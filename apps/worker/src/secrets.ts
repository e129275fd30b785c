/**
 * The Redis password must never reach a log line, an error message, `ps` or a step's
 * environment. URLs are shown only through {@link redactUrl}; the logger scrubs every secret
 * from each line it writes as a last line of defence (logger.ts).
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

/** The password in a redis:// URL, if any. */
export function urlPassword(url: string): string | undefined {
  try {
    const pw = new URL(url).password;
    return pw ? decodeURIComponent(pw) : undefined;
  } catch {
    return undefined;
  }
}

/** Every form in which a secret could appear in text: as is and URL-encoded. */
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

/** `text` with every secret form replaced by `***`. */
export function scrub(text: string, forms: readonly string[]): string {
  let out = text;
  for (const f of forms) if (out.includes(f)) out = out.split(f).join('***');
  return out;
}
