/**
 * JSON text -> the value Python's `json.loads` would build, so that `str()` of each value
 * matches what a Python generator meant: `2.0` stays a float (`'2.0'`), `2` an int, and
 * `100000000000000000000` keeps every digit. `JSON.parse` would turn the first into `2` and
 * round the last. Like `json.loads`, it accepts `NaN`, `Infinity` and `-Infinity`, which
 * Python's `json.dumps` writes by default.
 */
import { PyFloat, type PyValue } from '@maestro/spec';

/** Why the text is not JSON, with the 1-based line and column. */
export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
}

const NUMBER_RE = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const STRING_RE = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const SPACE_RE = /[ \t\n\r]*/y;
const MAX_DEPTH = 200;

export function parsePyJson(text: string): PyValue {
  let pos = 0;

  const fail = (what: string): never => {
    const before = text.slice(0, pos).split('\n');
    const line = before.length;
    const col = (before[before.length - 1]?.length ?? 0) + 1;
    const near = text.slice(pos, pos + 20);
    throw new JsonSyntaxError(`${what} at line ${line} column ${col}${near ? ` (near ${JSON.stringify(near)})` : ''}`);
  };
  const skipSpace = (): void => {
    SPACE_RE.lastIndex = pos;
    SPACE_RE.exec(text);
    pos = SPACE_RE.lastIndex;
  };
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    pos = re.lastIndex;
    return m[0];
  };
  const literal = (word: string): boolean => {
    if (!text.startsWith(word, pos)) return false;
    pos += word.length;
    return true;
  };
  const string = (): string => {
    const raw = match(STRING_RE) ?? fail('bad string');
    return JSON.parse(raw) as string;
  };

  const value = (depth: number): PyValue => {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
    skipSpace();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj = new Map<string, PyValue>();
      skipSpace();
      if (text[pos] === '}') {
        pos++;
        return Object.fromEntries(obj);
      }
      for (;;) {
        skipSpace();
        if (text[pos] !== '"') fail('expected a "key"');
        const key = string();
        skipSpace();
        if (text[pos] !== ':') fail('expected ":"');
        pos++;
        obj.set(key, value(depth + 1));
        skipSpace();
        if (text[pos] === ',') pos++;
        else if (text[pos] === '}') {
          pos++;
          return Object.fromEntries(obj);
        } else fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      pos++;
      const arr: PyValue[] = [];
      skipSpace();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        skipSpace();
        if (text[pos] === ',') pos++;
        else if (text[pos] === ']') {
          pos++;
          return arr;
        } else fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    if (literal('true')) return true;
    if (literal('false')) return false;
    if (literal('null')) return null;
    if (literal('NaN')) return new PyFloat(NaN);
    if (literal('Infinity')) return new PyFloat(Infinity);
    if (literal('-Infinity')) return new PyFloat(-Infinity);
    const start = pos;
    NUMBER_RE.lastIndex = pos;
    const m = NUMBER_RE.exec(text);
    if (m) {
      pos = NUMBER_RE.lastIndex;
      if (m[1] !== undefined || m[2] !== undefined) return new PyFloat(Number(m[0]));
      const n = Number(m[0]);
      return Number.isSafeInteger(n) ? n : BigInt(text.slice(start, pos));
    }
    return fail(pos >= text.length ? 'unexpected end of text' : 'unexpected character');
  };

  const result = value(0);
  skipSpace();
  if (pos < text.length) fail('unexpected text after the JSON value');
  return result;
}
