/**
 * Instances ready to be sent, in order: an array read from a moving head, so that sending is
 * O(1) and a retry goes back to the front without moving the rest.
 */
import { READY_COMPACT_AFTER } from './timing.js';

export class ReadyQueue {
  #items: number[] = [];
  #head = 0;

  /** Entries not taken yet (some may no longer wait to be sent: the dispatcher skips those). */
  get size(): number {
    return this.#items.length - this.#head;
  }

  push(i: number): void {
    this.#items.push(i);
  }

  /** Puts `i` first (retries go first: they already waited once). */
  pushFront(i: number): void {
    if (this.#head > 0) this.#items[--this.#head] = i;
    else this.#items.unshift(i);
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
    this.#items.length = 0;
    this.#head = 0;
  }

  /** Frees the entries behind the head, once they are many (see READY_COMPACT_AFTER). */
  compact(): void {
    if (this.#head > READY_COMPACT_AFTER && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
