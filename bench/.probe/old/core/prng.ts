/**
 * Seeded random numbers with named child streams.
 *
 * One seed drives a run. Each consumer asks for `rng.child("name")`: a child's
 * sequence depends only on the root seed and its path of names, never on how
 * many numbers a sibling drew, so adding a stage does not shift another
 * stage's draws, and a resumed run can re-derive a stream from its name alone.
 *
 * Generator: xoshiro128** (Blackman and Vigna), seeded through splitmix32.
 * @module
 */

/** The serialisable state of an {@linkcode Rng}. */
export interface RngState {
  /** The stream's path of names from the root, e.g. `["switch-points", "iteration-3"]`. */
  path: string[];
  /** The root seed. */
  seed: number;
  /** The four 32-bit words of xoshiro128**. */
  words: [number, number, number, number];
}

function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [state, (z ^ (z >>> 16)) >>> 0];
}

/** FNV-1a over the UTF-16 code units of a name, mixed with a parent hash. */
function hashName(parent: number, name: string): number {
  let h = (0x811c9dc5 ^ parent) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  }
  return splitmix32(h)[1];
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A seeded pseudo-random stream (xoshiro128**) that can derive named children. */
export class Rng {
  /** The seed of the root stream this one descends from. */
  readonly seed: number;
  /** Child names from the root to this stream, e.g. `["run", "rollout"]`; empty for the root. */
  readonly path: readonly string[];
  #s: Uint32Array;
  #spareNormal: number | null = null;

  /**
   * Seeds the stream from `seed` and `path` (hashed name by name), so a child is reproducible
   * without replaying its parent.
   *
   * @param seed a non-negative safe integer; the same seed gives the same numbers
   * @param path the names from the root to this stream (empty for the root)
   */
  constructor(seed: number, path: readonly string[] = []) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`Seed must be a non-negative safe integer, got ${seed}`);
    }
    this.seed = seed;
    this.path = [...path];
    let key = hashName(seed >>> 0, `seed:${Math.floor(seed / 2 ** 32)}`);
    for (const name of path) key = hashName(key, name);
    this.#s = new Uint32Array(4);
    let state = key;
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(state);
      state = next;
      this.#s[i] = out;
    }
  }

  /** A child stream named `name`; independent of this stream's draws so far. */
  child(name: string): Rng {
    return new Rng(this.seed, [...this.path, name]);
  }

  /** The next 32-bit unsigned integer. */
  uint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A float uniform in [0, 1) with 53 random bits, like `Math.random`. */
  random(): number {
    const high = this.uint32() >>> 5; // 27 bits
    const low = this.uint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** An integer uniform in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) {
      throw new RangeError(`Rng.int() needs an integer n in [1, 2^32], got ${n}`);
    }
    const limit = 2 ** 32 - (2 ** 32 % n);
    let x = this.uint32();
    while (x >= limit) x = this.uint32();
    return x % n;
  }

  /** An integer uniform in [low, high] (both included). */
  intBetween(low: number, high: number): number {
    if (high < low) {
      throw new RangeError(`Rng.intBetween() needs low <= high, got ${low} > ${high}`);
    }
    return low + this.int(high - low + 1);
  }

  /** A standard normal draw (Box-Muller, caching the second value). */
  normal(): number {
    if (this.#spareNormal !== null) {
      const spare = this.#spareNormal;
      this.#spareNormal = null;
      return spare;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.#spareNormal = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** This stream as a `() => number` function, the contract of `Math.random`. */
  asPrng(): () => number {
    return () => this.random();
  }

  /** The state to save in a checkpoint. */
  getState(): RngState {
    const s = this.#s;
    return { seed: this.seed, path: [...this.path], words: [s[0], s[1], s[2], s[3]] };
  }

  /** Rebuilds a stream from {@linkcode Rng.getState}'s output. */
  static fromState(state: RngState): Rng {
    const rng = new Rng(state.seed, state.path);
    rng.#s.set(state.words);
    return rng;
  }
}
