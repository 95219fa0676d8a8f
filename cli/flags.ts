/**
 * Command-line flags for every `deno task`: `node:util` parseArgs with the
 * mistakes a user makes turned into one line naming the flag and what was
 * expected (unknown flags with a "did you mean", stray arguments, missing
 * values, negative numbers, bad numbers).
 * @module
 */
import { parseArgs } from "node:util";
import { InputError } from "../core/errors.ts";

/** A user mistake on the command line; its message names the flag. */
export class FlagError extends InputError {
  /**
   * @param message the whole one-line message, e.g. `flag --seed: expected ...`
   */
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

/**
 * A {@linkcode FlagError} about one flag's value: `flag --x: <message>`.
 * @param flag the flag, e.g. "--task"
 * @param message what is wrong and what was expected
 * @returns the error, to throw
 */
export function flagError(flag: string, message: string): FlagError {
  return new FlagError(`flag ${flag}: ${message}`);
}

/** One flag: a string value or a boolean switch, with an optional one-letter alias and default. */
export interface FlagOption {
  type: "string" | "boolean";
  short?: string;
  default?: string | boolean;
}

type FlagValue<O extends FlagOption> = O["type"] extends "boolean" ? boolean : string;

/** The parsed values of flags `T`: flags with a default are always set, `help` may be. */
export type FlagValues<T extends Record<string, FlagOption>> =
  & { [K in keyof T as T[K] extends { default: unknown } ? K : never]: FlagValue<T[K]> }
  & { [K in keyof T as T[K] extends { default: unknown } ? never : K]?: FlagValue<T[K]> }
  & { help?: boolean };

/** How {@linkcode parseFlags} treats arguments that are not flags. */
export interface ParseFlagsOptions {
  /**
   * Whether bare arguments are allowed (e.g. generate's prompts). @default false
   */
  positionals?: boolean;
  /** A hint for a stray argument, e.g. `--preset toy` for `toy`; null for none. */
  hint?: (arg: string) => string | null;
}

/**
 * The edit distance between two strings (insertions, deletions, substitutions).
 * @param a one string
 * @param b the other
 * @returns the Levenshtein distance
 */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/**
 * The closest of `choices` to `word`, when it is close enough to be a typo
 * (a prefix of it, or within a third of its length in edits).
 * @param word what the user typed
 * @param choices the accepted words
 * @returns the suggestion, or null
 */
export function closest(word: string, choices: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const choice of choices) {
    const d = editDistance(word, choice);
    if (d < bestDistance) [best, bestDistance] = [choice, d];
  }
  if (best === null) return null;
  const prefix = choices.find((c) => word.length >= 2 && c.startsWith(word));
  if (bestDistance <= Math.max(1, Math.floor(Math.max(word.length, best.length) / 3))) return best;
  return prefix ?? null;
}

/**
 * Parses a command line strictly. Unknown flags, stray arguments, missing
 * values and values given to switches throw a {@linkcode FlagError} of one
 * line; `--flag -5` reads -5 as the value (parseArgs alone calls it ambiguous).
 * @param argv the arguments
 * @param options the flags (`help`/`-h` is added when missing)
 * @param settings positionals and their hint
 * @returns the values and the positionals
 */
export function parseFlags<T extends Record<string, FlagOption>>(
  argv: readonly string[],
  options: T,
  settings: ParseFlagsOptions = {},
): { values: FlagValues<T>; positionals: string[] } {
  const all: Record<string, FlagOption> = { help: { type: "boolean", short: "h" }, ...options };
  const names = Object.keys(all);
  const shorts = new Map(
    Object.entries(all).filter(([, o]) => o.short).map(([name, o]) => [o.short!, name]),
  );
  const args: string[] = [];
  let afterDashes = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (afterDashes || arg === "-" || !arg.startsWith("-") || /^-\d/.test(arg)) {
      if (arg === "--") afterDashes = true;
      args.push(arg);
      continue;
    }
    if (arg === "--") {
      afterDashes = true;
      args.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const name = long ? arg.slice(2).split("=")[0] : shorts.get(arg[1]) ?? null;
    if (name === null || !(name in all)) {
      const typed = long ? `--${name}` : arg;
      const guess = long ? closest(name ?? "", names) : null;
      throw new FlagError(
        `unknown flag ${typed}${guess ? ` (did you mean --${guess}?)` : ""}; flags: ${
          names.map((n) => `--${n}`).join(", ")
        }`,
      );
    }
    const option = all[name];
    const inline = long && arg.includes("=");
    if (option.type === "boolean" && inline) {
      throw new FlagError(`flag --${name} is a switch and takes no value, got "${arg}"`);
    }
    if (option.type === "string" && !inline && !(!long && arg.length > 2)) {
      const value = argv[i + 1];
      if (value === undefined || (value.startsWith("-") && !/^-(\d|\.\d)/.test(value))) {
        throw new FlagError(`flag --${name} needs a value`);
      }
      args.push(`--${name}=${value}`);
      i++;
      continue;
    }
    args.push(arg);
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: all, strict: true, allowPositionals: true });
  } catch (error) {
    throw new FlagError(String((error as Error).message).split("\n")[0]);
  }
  const positionals = parsed.positionals;
  if (!settings.positionals && positionals.length > 0 && !parsed.values.help) {
    const arg = positionals[0];
    const hint = settings.hint?.(arg) ?? null;
    throw new FlagError(
      `unexpected argument "${arg}": this command takes only flags${
        hint ? ` (did you mean ${hint}?)` : ""
      }; see --help`,
    );
  }
  return { values: parsed.values as FlagValues<T>, positionals };
}

/**
 * The flags of a script's command line, for `deno task` entry points that parse
 * at the top level: `--help` prints `help` and exits 0; a mistake prints
 * `error: <one line>` and exits 1.
 * @param argv the arguments
 * @param options the flags
 * @param help the usage text
 * @returns the values
 */
export function commandFlags<T extends Record<string, FlagOption>>(
  argv: readonly string[],
  options: T,
  help: string,
): FlagValues<T> {
  let values: FlagValues<T>;
  try {
    values = parseFlags(argv, options).values;
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    console.error(`error: ${error.message}`);
    Deno.exit(1);
  }
  if (values.help) {
    console.log(help);
    Deno.exit(0);
  }
  return values;
}

/**
 * Reads an integer flag.
 * @param flag the flag's name, e.g. "--seed"
 * @param text its value, or undefined when absent
 * @param min the smallest accepted value (0 for seeds, 1 for counts)
 * @returns the number, or undefined when absent
 */
export function integerFlag(flag: string, text: string | undefined, min = 0): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < min) {
    const expected = min === 0
      ? "a non-negative integer"
      : min === 1
      ? "a positive integer"
      : `an integer >= ${min}`;
    throw new FlagError(`flag ${flag}: expected ${expected}, got "${text}"`);
  }
  return n;
}

/**
 * Reads a choice flag.
 * @param flag the flag's name, e.g. "--preset"
 * @param text its value, or undefined when absent
 * @param choices the accepted values
 * @param what what the value names, e.g. "preset"
 * @returns the value, or undefined when absent
 */
export function choiceFlag(
  flag: string,
  text: string | undefined,
  choices: readonly string[],
  what: string,
): string | undefined {
  if (text === undefined || choices.includes(text)) return text;
  const guess = closest(text, choices);
  throw new FlagError(
    `flag ${flag}: unknown ${what} "${text}"${
      guess ? ` (did you mean ${guess}?)` : ""
    }; expected one of: ${choices.join(", ")}`,
  );
}
