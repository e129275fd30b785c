/**
 * The Redis password must never reach a log line, a message, a status file, `ps` or a step's
 * environment. URLs are shown only through {@link redactUrl} or stored through
 * {@link withoutPassword}; loggers pass every line through {@link scrub} as a last defence.
 * Conductor and worker use these same functions, so both hide the same things.
 */

/**
 * Query parameters that hold a secret (`redis+sentinel://.../MASTER?sentinelPassword=pw`): the
 * sentinels' own password.
 */
const SECRET_PARAMS = /([?&]sentinelPassword=)([^&#]*)/g;

/**
 * `scheme://[userinfo@]rest` for URLs that WHATWG `URL` cannot read: the multi-host forms
 * (`redis+sentinel://a:1,b:2/name`, `redis+cluster://a:1,b:2`) and anything else with `//`.
 */
const AUTHORITY = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*@)?(.*)$/is;

/** Whether `url` names several hosts, which `URL` would refuse or misread. */
function isMultiHost(url: string): boolean {
  const m = AUTHORITY.exec(url);
  return m !== null && /^[^/?#]*,/.test(m[3]!);
}

/** Applies `change` to the userinfo (`user:pw`) of a URL in any form, and `param` to secret parameters. */
function rewrite(
  url: string,
  change: (userinfo: string) => string,
  param: (value: string) => string,
  notUrl: (text: string) => string,
): string {
  const params = (text: string): string => text.replace(SECRET_PARAMS, (_, key: string, v: string) => key + param(v));
  if (!isMultiHost(url)) {
    try {
      const u = new URL(url);
      const userinfo = u.username || u.password ? `${u.username}:${u.password}` : '';
      const changed = userinfo ? change(userinfo) : '';
      const k = changed.indexOf(':');
      u.username = k < 0 ? changed : changed.slice(0, k);
      u.password = k < 0 ? '' : changed.slice(k + 1);
      return params(u.toString());
    } catch {
      // not a URL for WHATWG: read it as below
    }
  }
  const m = AUTHORITY.exec(url);
  if (!m) return notUrl(url);
  const userinfo = m[2] === undefined ? '' : change(m[2].slice(0, -1));
  return params(`${m[1]}${userinfo ? `${userinfo}@` : ''}${m[3]}`);
}

/** The URL with its passwords replaced by `***` (user names stay: they help debugging). */
export function redactUrl(url: string): string {
  return rewrite(
    url,
    (userinfo) => {
      const k = userinfo.indexOf(':');
      return k < 0 || k === userinfo.length - 1 ? userinfo : `${userinfo.slice(0, k)}:***`;
    },
    (v) => (v ? '***' : v),
    // Not a URL: hide anything that looks like `:secret@`.
    (text) => text.replace(/:[^:@/]*@/, ':***@').replace(SECRET_PARAMS, '$1***'),
  );
}

/** The URL without its passwords, for meta files and batch scripts. */
export function withoutPassword(url: string): string {
  return rewrite(
    url,
    (userinfo) => {
      const k = userinfo.indexOf(':');
      return k < 0 ? userinfo : userinfo.slice(0, k);
    },
    () => '',
    // Not a URL: whatever sits between `//` and `@` may be credentials.
    (text) => text.replace(/\/\/[^@/]*@/, '//'),
  ).replace(/([?&])sentinelPassword=(&|$)/g, (_, sep: string, next: string) => (next ? sep : ''));
}

/** The password in a URL (the servers'), decoded, if it holds one. */
export function urlPassword(url: string): string | undefined {
  let found: string | undefined;
  rewrite(
    url,
    (userinfo) => {
      const k = userinfo.indexOf(':');
      if (k >= 0 && k < userinfo.length - 1) found = decode(userinfo.slice(k + 1));
      return userinfo;
    },
    (v) => v,
    (text) => text,
  );
  return found;
}

/** Every secret a URL holds: the servers' password and the sentinels' (`sentinelPassword=`). */
export function urlSecrets(url: string): string[] {
  const out: string[] = [];
  const pw = urlPassword(url);
  if (pw) out.push(pw);
  for (const m of url.matchAll(SECRET_PARAMS)) if (m[2]) out.push(decode(m[2]));
  return out;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
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
