/**
 * Instances ready to be sent, in order: a typed array read from a moving head, so that sending is
 * O(1), a retry goes back to the front without moving the rest, and the queue costs 4 bytes an
 * entry outside the JavaScript heap. A study of ten million instances with no dependencies starts
 * with every one of them ready: as a number[] that was 80 MB of heap (and V8 lets a heap grow to a
 * few times what it holds before it collects), as an Int32Array 40 MB.
 */
import { READY_COMPACT_AFTER } from './timing.js';

const INITIAL_CAPACITY = 1024;

export class ReadyQueue {
  #items = new Int32Array(INITIAL_CAPACITY);
  #head = 0;
  #tail = 0;

  /** Entries not taken yet (some may no longer wait to be sent: the dispatcher skips those). */
  get size(): number {
    return this.#tail - this.#head;
  }

  push(i: number): void {
    if (this.#tail === this.#items.length) this.#grow(0);
    this.#items[this.#tail++] = i;
  }

  /** Puts `i` first (retries go first: they already waited once). */
  pushFront(i: number): void {
    if (this.#head === 0) this.#grow(Math.max(INITIAL_CAPACITY, this.size));
    this.#items[--this.#head] = i;
  }

  /** The first entry; the queue must not be empty. */
  peek(): number {
    return this.#items[this.#head]!;
  }

  /** Drops the first entry. */
  skip(): void {
    this.#head++;
  }

  clear(): void {
    this.#items = new Int32Array(INITIAL_CAPACITY);
    this.#head = 0;
    this.#tail = 0;
  }

  /** Frees the entries behind the head, once they are many (see READY_COMPACT_AFTER). */
  compact(): void {
    if (this.#head > READY_COMPACT_AFTER && this.#head * 2 > this.#tail) {
      const live = this.#items.subarray(this.#head, this.#tail);
      // Shrinks too: the queue of a big study empties as it is sent, and should not keep its peak.
      const items = new Int32Array(Math.max(INITIAL_CAPACITY, live.length * 2));
      items.set(live);
      this.#items = items;
      this.#tail = live.length;
      this.#head = 0;
    }
  }

  /** Room for more at the end, and `front` free slots before the head. */
  #grow(front: number): void {
    const size = this.size;
    const items = new Int32Array(Math.max(INITIAL_CAPACITY, front + size * 2));
    items.set(this.#items.subarray(this.#head, this.#tail), front);
    this.#items = items;
    this.#head = front;
    this.#tail = front + size;
  }
}
