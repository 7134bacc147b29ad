/**
 * A classic LFU (least frequently used) cache, bounded by a number of entries: when it is
 * full, the entry read the fewest times goes; among entries read equally often, the least
 * recently used one. Step 3 of the lesson measures it against lru-cache (LRU) and
 * transitory (W-TinyLFU) on the bench's Zipf traffic; it is not used by the app.
 *
 * The O(1) layout (Shah, Mitra and Matani, "An O(1) algorithm for implementing the LFU
 * cache eviction scheme", 2010):
 *
 * - `#entries`: key → { value, count }.
 * - `#byCount`: count → the keys read that many times, as a `Set`. A `Set` iterates in
 *   insertion order, and a key is re-inserted each time it is read, so the first key of a
 *   set is the least recently used of its count: the one to evict.
 * - `#minCount`: the smallest count any entry has. A new entry has count 1, so after an
 *   insertion it is 1; after a read it moves up only when the set it leaves is now empty.
 *
 * What it does not do, on purpose, because that is the lesson: counts are never aged, and
 * they are forgotten when an entry is evicted ("in-cache" LFU). An entry read a thousand
 * times this morning outlives everything read ten times this afternoon; a key that comes
 * back after its eviction starts again at 1. W-TinyLFU fixes both with a frequency sketch
 * that remembers evicted keys too and halves every count now and then.
 */
export class LfuCache<K, V> {
  readonly max: number;
  #entries = new Map<K, { value: V; count: number }>();
  #byCount = new Map<number, Set<K>>();
  #minCount = 0;

  /** `max`: how many entries it holds at most (a whole number ≥ 1). */
  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 1)
      throw new TypeError(`LfuCache: max must be a whole number of entries ≥ 1 (e.g. 1000), got ${String(max)}.`);
    this.max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** How many times `key` was read (its insertion counts as one), or 0 when it is not cached. */
  count(key: K): number {
    return this.#entries.get(key)?.count ?? 0;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** The value, counting one more use of it; undefined when it is not cached. */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#bump(key, entry);
    return entry.value;
  }

  /** Store `value`. A new key evicts the least frequently used entry when the cache is full. */
  set(key: K, value: V): void {
    const entry = this.#entries.get(key);
    if (entry) {
      entry.value = value;
      this.#bump(key, entry);
      return;
    }
    if (this.#entries.size >= this.max) this.#evict();
    this.#entries.set(key, { value, count: 1 });
    this.#keysOf(1).add(key);
    this.#minCount = 1;
  }

  delete(key: K): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#entries.delete(key);
    this.#remove(key, entry.count);
    // #minCount may now name an empty count: #evict skips to the next one that has keys.
    return true;
  }

  #keysOf(count: number): Set<K> {
    let keys = this.#byCount.get(count);
    if (!keys) {
      keys = new Set();
      this.#byCount.set(count, keys);
    }
    return keys;
  }

  #remove(key: K, count: number): void {
    const keys = this.#byCount.get(count);
    keys?.delete(key);
    if (keys && keys.size === 0) this.#byCount.delete(count);
  }

  #bump(key: K, entry: { count: number }): void {
    this.#remove(key, entry.count);
    if (entry.count === this.#minCount && !this.#byCount.has(entry.count)) this.#minCount = entry.count + 1;
    entry.count += 1;
    this.#keysOf(entry.count).add(key);
  }

  #evict(): void {
    if (this.#entries.size === 0) return;
    // After a delete, #minCount may name a count nobody has any more: the smallest present one.
    if (!this.#byCount.has(this.#minCount)) this.#minCount = Math.min(...this.#byCount.keys());
    const keys = this.#byCount.get(this.#minCount) as Set<K>;
    const victim = keys.values().next().value as K;
    this.#entries.delete(victim);
    this.#remove(victim, this.#minCount);
  }
}
