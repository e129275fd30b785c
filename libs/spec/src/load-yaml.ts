/**
 * YAML text -> the values PyYAML's FullLoader would build (YAML 1.1 scalars), plus the source
 * position of every key and value, so that every later problem can point at a line and column.
 *
 * The `yaml` package parses the structure; scalars are resolved here with PyYAML's own implicit
 * resolver rules, because Maestro users' specs were written against them (`yes` is a bool,
 * `1e3` is a string, `0777` is octal, `1:30` is 90).
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node as YamlNode, Pair, Alias, Scalar } from 'yaml';
import { SpecErrorCode, type SpecProblem } from './errors.js';
import { PyFloat, PyTimestamp, pyStr, type PyValue } from './py-values.js';

export interface Position {
  readonly line: number;
  readonly col: number;
}

export type KeyPath = readonly (string | number)[];

/**
 * Where each key and value of a loaded document came from. Positions are looked up in the YAML
 * syntax tree only when a problem needs one, so a million-value parameter list costs nothing
 * extra (no map of a million paths).
 */
export class SourcePositions {
  constructor(
    readonly file: string | undefined,
    private readonly doc?: Document,
    private readonly lineCounter?: LineCounter,
    private readonly aliases?: AliasTargets,
  ) {}

  /** The value at `path`, else the nearest enclosing node that exists. */
  find(path: KeyPath): Position | undefined {
    return this.#walk(path, false);
  }

  /** Where the key of `path` is written (`name:`), else as {@link find}. */
  findKey(path: KeyPath): Position | undefined {
    return this.#walk(path, true);
  }

  #walk(path: KeyPath, wantKey: boolean): Position | undefined {
    if (!this.doc || !this.lineCounter) return undefined;
    let node = this.#deref(this.doc.contents as YamlNode | null);
    let offset = node?.range?.[0];
    // Where the enclosing key is written: a missing key is reported there (`run:` lacks `cmd`).
    let parentKeyOffset: number | undefined;
    for (let k = 0; k < path.length && node; k++) {
      const part = path[k]!;
      const last = k === path.length - 1;
      if (isSeq(node) && typeof part === 'number') {
        const item = (node.items[part] as YamlNode | undefined) ?? null;
        // A key missing from a list item (a step without `description`) is reported at the item.
        parentKeyOffset = item?.range?.[0] ?? parentKeyOffset;
        node = this.#deref(item);
      } else if (isMap(node)) {
        const pair = this.#pairOf(node.items as Pair<unknown, unknown>[], String(part), 0);
        if (!pair) {
          offset = parentKeyOffset ?? offset;
          break;
        }
        const keyOffset = (pair.key as YamlNode | null)?.range?.[0];
        parentKeyOffset = keyOffset;
        if (last && wantKey && keyOffset !== undefined) return this.lineCounter.linePos(keyOffset);
        node = this.#deref(pair.value as YamlNode | null);
        if (!node) {
          offset = keyOffset ?? offset;
          break;
        }
      } else break;
      if (node?.range) offset = node.range[0];
    }
    return offset === undefined ? undefined : this.lineCounter.linePos(offset);
  }

  #deref(node: YamlNode | null | undefined): YamlNode | null {
    if (node && isAlias(node)) return this.aliases?.get(node) ?? null;
    return node ?? null;
  }

  /**
   * The pair for `key`, looking through `<<` merges as the loader does: an own key first, else
   * the last `<<` that has it, and within one `<<: [...]` list the first source that has it.
   */
  #pairOf(pairs: Pair<unknown, unknown>[], key: string, depth: number): Pair<unknown, unknown> | undefined {
    let merged: Pair<unknown, unknown> | undefined;
    for (const pair of pairs) {
      const k = pair.key as YamlNode | null;
      if (!isScalar(k)) continue;
      if (k.type === 'PLAIN' && k.value === '<<') {
        if (depth > 20) continue;
        const sources = this.#deref(pair.value as YamlNode | null);
        const list = isSeq(sources) ? sources.items.map((i) => this.#deref(i as YamlNode)) : [sources];
        let found: Pair<unknown, unknown> | undefined;
        for (const src of list) {
          if (isMap(src)) found ??= this.#pairOf(src.items as Pair<unknown, unknown>[], key, depth + 1);
        }
        merged = found ?? merged;
        continue;
      }
      if (String(k.value) === key || k.source === key) return pair;
    }
    return merged;
  }
}

export interface LoadedYaml {
  readonly value: PyValue;
  readonly positions: SourcePositions;
  /** Accepted but suspicious: keys written twice in one mapping (the last one wins, as in PyYAML). */
  readonly warnings: SpecProblem[];
}

/**
 * Aliases may repeat content, not multiply it: a document whose aliases expand it past this many
 * nodes beyond ten times its own size is refused (billion-laughs bombs). Big documents that
 * use no aliases are fine.
 */
export const MAX_EXPANDED_NODES = 1_000_000;

export class YamlLoadError extends Error {
  override readonly name = 'YamlLoadError';
  constructor(readonly problems: SpecProblem[]) {
    super(problems.map((p) => p.message).join('\n'));
  }
}

/** Parses one YAML document the way Maestro's loader reads it; throws {@link YamlLoadError}. */
export function loadYaml(text: string, file?: string): LoadedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    schema: 'failsafe', // every scalar stays text; resolveScalar applies PyYAML's rules
    version: '1.1',
    uniqueKeys: false, // PyYAML keeps the last of duplicate keys; we warn instead (validate)
    prettyErrors: false,
    keepSourceTokens: false,
  });
  const at = (offset: number): Position => lineCounter.linePos(offset);
  const problems: SpecProblem[] = [];
  for (const err of doc.errors) {
    const pos = err.linePos?.[0] ?? at(err.pos[0]);
    problems.push({
      code: SpecErrorCode.YamlSyntax,
      file,
      line: pos.line,
      col: pos.col,
      path: '',
      message: `YAML syntax error: ${firstLine(err.message)}`,
      allowed: 'the file must be one valid YAML document',
    });
  }
  if (problems.length > 0) throw new YamlLoadError(problems);

  const aliases = resolveAliases(doc.contents as YamlNode | null);
  const positions = new SourcePositions(file, doc, lineCounter, aliases);
  const size = new Map<YamlNode, number>();
  const limit = MAX_EXPANDED_NODES + 10 * countNodes(doc.contents as YamlNode | null);
  const expanded = measure(doc.contents as YamlNode | null, aliases, size, new Set(), limit);
  if (expanded > limit) {
    throw new YamlLoadError([
      {
        code: SpecErrorCode.YamlTooLarge,
        file,
        line: 1,
        col: 1,
        path: '',
        message: `its aliases expand it to more than ${limit.toLocaleString('en-US')} nodes (a YAML "billion laughs" bomb?)`,
        allowed: 'use anchors and aliases for reuse, not to multiply content',
      },
    ]);
  }
  const converter = new Converter(aliases, at, file);
  const value = converter.convert(doc.contents as YamlNode | null, []);
  if (converter.problems.length > 0) throw new YamlLoadError(converter.problems);
  return { value, positions, warnings: converter.warnings };
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).replace(/ at line \d+, column \d+:?$/, '');
}

/** Nodes written in the document (an alias counts once). */
function countNodes(node: YamlNode | null): number {
  let n = 0;
  const stack: (YamlNode | null)[] = [node];
  while (stack.length > 0) {
    const x = stack.pop();
    n++;
    if (isMap(x) || isSeq(x)) {
      for (const item of x.items as unknown[]) {
        if (isPair(item)) stack.push(item.key as YamlNode | null, item.value as YamlNode | null);
        else stack.push(item as YamlNode | null);
      }
    }
  }
  return n;
}

/** What each alias of a document refers to (undefined: an anchor not defined before it). */
type AliasTargets = ReadonlyMap<Alias, YamlNode | undefined>;

/**
 * Every alias's target, found in one walk of the document in order: the last node before the
 * alias that carries its anchor, as the yaml package's `Alias.resolve` finds it. That method
 * walks the whole document again for each alias it is asked about, which made loading a spec
 * quadratic in its number of aliases (10,000 aliases took half a minute); this is linear.
 */
function resolveAliases(root: YamlNode | null): AliasTargets {
  const targets = new Map<Alias, YamlNode | undefined>();
  const anchors = new Map<string, YamlNode>();
  // Depth first, each node before its children and a key before its value: document order.
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const x = stack.pop();
    if (isAlias(x)) {
      targets.set(x, anchors.get(x.source));
      continue;
    }
    if (isPair(x)) {
      stack.push(x.value, x.key);
      continue;
    }
    if (isScalar(x) || isMap(x) || isSeq(x)) {
      if (x.anchor) anchors.set(x.anchor, x as YamlNode);
      if (isMap(x) || isSeq(x)) for (let k = x.items.length - 1; k >= 0; k--) stack.push(x.items[k]);
    }
  }
  return targets;
}

/** Node count of the fully alias-expanded tree, memoised per node so bombs cost O(document). */
function measure(
  node: YamlNode | null,
  aliases: AliasTargets,
  memo: Map<YamlNode, number>,
  active: Set<YamlNode>,
  limit: number,
): number {
  if (!node) return 1;
  const known = memo.get(node);
  if (known !== undefined) return known;
  if (active.has(node)) return Infinity; // recursive alias: never ends
  active.add(node);
  let n = 1;
  if (isAlias(node)) {
    const target = aliases.get(node);
    n = target ? measure(target, aliases, memo, active, limit) : 1;
  } else if (isMap(node) || isSeq(node)) {
    for (const item of node.items as unknown[]) {
      if (isPair(item)) {
        n += measure(item.key as YamlNode | null, aliases, memo, active, limit);
        n += measure(item.value as YamlNode | null, aliases, memo, active, limit);
      } else n += measure(item as YamlNode | null, aliases, memo, active, limit);
      if (n > limit) break;
    }
  }
  active.delete(node);
  memo.set(node, n);
  return n;
}

function isPair(x: unknown): x is Pair<unknown, unknown> {
  return typeof x === 'object' && x !== null && 'key' in x && 'value' in x && !isScalar(x);
}

// PyYAML's implicit resolvers (resolver.py), YAML 1.1.
const BOOL_RE = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const FLOAT_RE =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const INT_RE =
  /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const NULL_RE = /^(?:~|null|Null|NULL|)$/;
const TIMESTAMP_RE =
  /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/;
const TRUE_WORDS = new Set(['yes', 'true', 'on']);

class Converter {
  readonly problems: SpecProblem[] = [];
  readonly warnings: SpecProblem[] = [];
  constructor(
    private readonly aliases: AliasTargets,
    private readonly at: (offset: number) => Position,
    private readonly file: string | undefined,
  ) {}

  convert(node: YamlNode | null | undefined, path: KeyPath): PyValue {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.convertAlias(node, path);
    if (isScalar(node)) return this.resolveScalar(node, path);
    if (isSeq(node)) return node.items.map((item, i) => this.convert(item as YamlNode, [...path, i]));
    if (isMap(node)) return this.convertMap(node.items as Pair<unknown, unknown>[], path);
    return null;
  }

  private convertAlias(node: Alias, path: KeyPath): PyValue {
    const target = this.aliases.get(node);
    if (!target) {
      this.problem(path, node.range?.[0], `unknown alias *${node.source}`, 'define the anchor (&name) before using it');
      return null;
    }
    return this.convert(target, path);
  }

  private convertMap(pairs: Pair<unknown, unknown>[], path: KeyPath): PyValue {
    const out: Record<string, PyValue> = {};
    const merged: Record<string, PyValue>[] = [];
    for (const pair of pairs) {
      const keyNode = pair.key as YamlNode | null;
      if (isScalar(keyNode) && keyNode.type === 'PLAIN' && keyNode.value === '<<' && !keyNode.tag) {
        this.collectMerge(pair.value as YamlNode | null, path, merged);
        continue;
      }
      const keyValue = this.convert(keyNode, path);
      if (
        keyValue !== null &&
        typeof keyValue === 'object' &&
        !(keyValue instanceof PyFloat) &&
        !(keyValue instanceof PyTimestamp)
      ) {
        this.problem(
          path,
          keyNode?.range?.[0],
          'a mapping key must be a plain value, not a list or mapping',
          'write the key as text',
        );
        continue;
      }
      const key = pyStr(keyValue);
      const childPath = [...path, key];
      if (Object.prototype.hasOwnProperty.call(out, key)) {
        const pos = keyNode?.range ? this.at(keyNode.range[0]) : undefined;
        this.warnings.push({
          code: SpecErrorCode.DuplicateName,
          file: this.file,
          line: pos?.line,
          col: pos?.col,
          path: childPath.join('.'),
          message: `key '${key}' is written twice in the same mapping; the last one is used`,
          allowed: 'write each key once',
        });
      }
      define(out, key, this.convert(pair.value as YamlNode | null, childPath));
    }
    if (merged.length === 0) return out;
    // PyYAML's flatten_mapping: the sources of each `<<` in turn (those of a `<<: [...]` list in
    // reverse), then the explicit keys; a later pair overrides an earlier one. So explicit keys
    // win, a later `<<` wins over an earlier one, and in a list the earlier source wins.
    const result: Record<string, PyValue> = {};
    for (const source of merged) for (const [k, v] of Object.entries(source)) define(result, k, v);
    for (const [k, v] of Object.entries(out)) define(result, k, v);
    return result;
  }

  /** Appends the mappings of one `<<` value to `into`, in the order PyYAML merges them. */
  private collectMerge(node: YamlNode | null, path: KeyPath, into: Record<string, PyValue>[]): void {
    const target = this.mergeTarget(node);
    if (isMap(target)) {
      into.push(this.convert(target, path) as Record<string, PyValue>);
      return;
    }
    if (isSeq(target)) {
      const sources: Record<string, PyValue>[] = [];
      for (const item of target.items) {
        const source = this.mergeTarget(item as YamlNode | null);
        if (isMap(source)) sources.push(this.convert(source, path) as Record<string, PyValue>);
        else this.mergeProblem(path, item as YamlNode | null); // PyYAML: "expected a mapping for merging"
      }
      into.push(...sources.reverse());
      return;
    }
    this.mergeProblem(path, node);
  }

  private mergeTarget(node: YamlNode | null): YamlNode | null | undefined {
    return isAlias(node) ? this.aliases.get(node) : node;
  }

  private mergeProblem(path: KeyPath, node: YamlNode | null): void {
    this.problem(
      path,
      node?.range?.[0],
      'a merge key (<<) must refer to a mapping or a list of mappings',
      'use <<: *anchor or <<: [*anchor1, *anchor2]',
    );
  }

  private resolveScalar(node: Scalar, path: KeyPath): PyValue {
    const text = String(node.value);
    const tag = node.tag;
    if (tag && tag !== '!' && !tag.startsWith('tag:yaml.org,2002:')) {
      this.problem(path, node.range?.[0], `unsupported YAML tag ${tag}`, 'use plain YAML values');
      return text;
    }
    const explicit = tag?.replace('tag:yaml.org,2002:', '');
    if (explicit === 'str' || tag === '!') return text;
    if (!explicit && node.type !== 'PLAIN') return text;
    const kind = explicit ?? implicitKind(text);
    switch (kind) {
      case 'null':
        return null;
      case 'bool':
        return TRUE_WORDS.has(text.toLowerCase());
      case 'int': {
        const v = toInt(text);
        if (v === undefined) this.problem(path, node.range?.[0], `'${text}' is not an integer`, 'write digits');
        return v ?? text;
      }
      case 'float': {
        const v = toFloat(text);
        if (v === undefined) this.problem(path, node.range?.[0], `'${text}' is not a number`, 'write a decimal number');
        return v === undefined ? text : new PyFloat(v);
      }
      case 'timestamp':
        return new PyTimestamp(timestampText(text));
      case 'str':
        return text;
      default:
        this.problem(path, node.range?.[0], `unsupported YAML tag !!${kind}`, 'use plain YAML values');
        return text;
    }
  }

  private problem(path: KeyPath, offset: number | undefined, message: string, allowed: string): void {
    const pos = offset === undefined ? undefined : this.at(offset);
    this.problems.push({
      code: SpecErrorCode.YamlSyntax,
      file: this.file,
      line: pos?.line,
      col: pos?.col,
      path: path.join('.'),
      message,
      allowed,
    });
  }
}

/** Sets a property even when the key is `__proto__` or shadows an Object method. */
function define(obj: Record<string, PyValue>, key: string, value: PyValue): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function implicitKind(text: string): string {
  if (NULL_RE.test(text)) return 'null';
  if (BOOL_RE.test(text)) return 'bool';
  if (INT_RE.test(text)) return 'int';
  if (FLOAT_RE.test(text)) return 'float';
  if (TIMESTAMP_RE.test(text)) return 'timestamp';
  return 'str';
}

/** PyYAML construct_yaml_int: `_` ignored; 0b, 0x, leading-0 octal, and base-60 `1:30`. */
function toInt(text: string): number | bigint | undefined {
  let s = text.replace(/_/g, '');
  let sign = 1n;
  if (s.startsWith('-')) {
    sign = -1n;
    s = s.slice(1);
  } else if (s.startsWith('+')) s = s.slice(1);
  let v: bigint;
  try {
    if (s === '0') v = 0n;
    else if (s.startsWith('0b')) v = BigInt(s);
    else if (s.startsWith('0x')) v = BigInt(s);
    else if (s.startsWith('0') && /^[0-7]+$/.test(s)) v = BigInt(`0o${s.slice(1)}`);
    else if (s.includes(':')) {
      v = 0n;
      for (const part of s.split(':')) v = v * 60n + BigInt(part);
    } else v = BigInt(s);
  } catch {
    return undefined;
  }
  v *= sign;
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** PyYAML construct_yaml_float. */
function toFloat(text: string): number | undefined {
  let s = text.replace(/_/g, '').toLowerCase();
  let sign = 1;
  if (s.startsWith('-')) {
    sign = -1;
    s = s.slice(1);
  } else if (s.startsWith('+')) s = s.slice(1);
  if (s === '.inf') return sign * Infinity;
  if (s === '.nan') return NaN;
  if (s.includes(':')) {
    let v = 0;
    for (const part of s.split(':')) v = v * 60 + Number(part);
    return sign * v;
  }
  const v = Number(s);
  return Number.isNaN(v) ? undefined : sign * v;
}

/** Python's str() of the date or datetime PyYAML builds from a timestamp. */
function timestampText(text: string): string {
  const m =
    /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?(?:[ \t]*(Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$/.exec(
      text,
    );
  if (!m) return text;
  const p2 = (s: string | undefined): string => (s ?? '0').padStart(2, '0');
  const date = `${m[1]}-${p2(m[2])}-${p2(m[3])}`;
  if (m[4] === undefined) return date;
  let out = `${date} ${p2(m[4])}:${m[5]}:${m[6]}`;
  const fraction = m[7] ? m[7].slice(0, 6).padEnd(6, '0') : '';
  if (fraction && Number(fraction) !== 0) out += `.${fraction}`;
  const tz = m[8];
  if (tz === 'Z') out += '+00:00';
  else if (tz) {
    const [h = '0', min = '00'] = tz.slice(1).split(':');
    out += `${tz[0]}${h.padStart(2, '0')}:${min}`;
  }
  return out;
}
