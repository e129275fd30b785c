/**
 * Values as Maestro's YAML 1.1 loader (PyYAML) produces them, and their Python `str()`.
 *
 * Maestro turns every variable and parameter value into text with `str(value)`, so `23.00`
 * becomes `23.0`, `yes` becomes `True` and `1_000` becomes `1000`. JavaScript numbers cannot
 * tell `23` from `23.0`, so YAML floats stay boxed as {@link PyFloat} and timestamps as
 * {@link PyTimestamp}; integers are numbers (bigint past 2^53, as Python ints never round).
 */

/** A YAML float, kept apart from integers so that `str()` prints it the way Python does. */
export class PyFloat {
  constructor(readonly value: number) {}
  toString(): string {
    return pyFloatRepr(this.value);
  }
}

/** A YAML 1.1 timestamp; PyYAML builds a `date` or `datetime`, whose `str()` we keep as text. */
export class PyTimestamp {
  constructor(
    /** What Python's `str()` prints for the date or datetime. */
    readonly text: string,
  ) {}
  toString(): string {
    return this.text;
  }
}

/** A value read from a study file: what PyYAML would have built, in JavaScript. */
export type PyValue =
  string | number | bigint | boolean | null | PyFloat | PyTimestamp | PyValue[] | { [key: string]: PyValue };

/** Python's `repr(float)`: the shortest text that reads back to the same double. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without digits gives the shortest round-trip mantissa, like Python's repr.
  const [mantissa = '', exponentText = '0'] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = `${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
    return `${sign}${m}e${e}`;
  }
  if (exponent >= 0) {
    if (digits.length <= exponent + 1) return `${sign}${digits}${'0'.repeat(exponent + 1 - digits.length)}.0`;
    return `${sign}${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
  }
  return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
}

/** Python's `str(value)` for what a study file can hold. */
export function pyStr(value: PyValue | undefined): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pyFloatRepr(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof PyFloat || value instanceof PyTimestamp) return value.toString();
  return pyRepr(value);
}

/** Python's `repr(value)`, which `str()` uses for the items of lists and dicts. */
export function pyRepr(value: PyValue | undefined): string {
  if (typeof value === 'string') return pyStringRepr(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (value instanceof PyTimestamp) return pyStringRepr(value.text);
  if (value !== null && typeof value === 'object' && !(value instanceof PyFloat)) {
    const items = Object.entries(value).map(([k, v]) => `${pyStringRepr(k)}: ${pyRepr(v)}`);
    return `{${items.join(', ')}}`;
  }
  return pyStr(value);
}

function pyStringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}
