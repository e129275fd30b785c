/**
 * A set of integers `0..capacity-1` that hands back its smallest member: a bitmap with summary
 * levels on top (bit `j` of a level-`l+1` word says whether word `j` of level `l` is non-zero).
 * `add` and `popMin` cost one word operation per level, ceil(log32(capacity)): 4 at a million,
 * at most 7 for any Int32 id. Memory is about capacity/8 bytes. Used instead of a binary heap
 * because it keeps the lowest-id-first topological order within (V+E) times a small constant.
 * @internal
 */
export class MinIdSetInternal {
  /** levels[0] holds one bit per id; the last level is a single word. */
  readonly #levels: Int32Array[];
  #size = 0;

  constructor(capacity: number) {
    const levels: Int32Array[] = [];
    let words = Math.max(1, Math.ceil(capacity / 32));
    for (;;) {
      levels.push(new Int32Array(words));
      if (words === 1) break;
      words = Math.ceil(words / 32);
    }
    this.#levels = levels;
  }

  get size(): number {
    return this.#size;
  }

  /** Adds `id` (which must not be in the set already). */
  add(id: number): void {
    let i = id;
    for (const level of this.#levels) {
      const word = i >>> 5;
      const before = level[word]!;
      level[word] = before | (1 << (i & 31));
      // Upper levels already record this word as non-empty.
      if (before !== 0) break;
      i = word;
    }
    this.#size++;
  }

  /** Removes and returns the smallest member, or -1 if the set is empty. */
  popMin(): number {
    const levels = this.#levels;
    const top = levels.length - 1;
    if (levels[top]![0] === 0) return -1;
    let i = 0;
    for (let l = top; l >= 0; l--) {
      const w = levels[l]![i]!;
      i = (i << 5) | lowestBit(w);
    }
    const id = i;
    for (const level of levels) {
      const word = i >>> 5;
      const after = level[word]! & ~(1 << (i & 31));
      level[word] = after;
      if (after !== 0) break;
      i = word;
    }
    this.#size--;
    return id;
  }
}

/** Index of the lowest set bit of a non-zero 32-bit word. */
function lowestBit(w: number): number {
  return 31 - Math.clz32(w & -w);
}
