/**
 * Config merging with strict checks: overrides may only name keys the defaults
 * have, and each value must have the default's type. Errors name the dotted field.
 * @module
 */
import { ConfigError } from "./errors.ts";

type Plain = Record<string, unknown>;

function isPlainObject(value: unknown): value is Plain {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/**
 * Deep-merges `overrides` into `defaults`, rejecting unknown keys and values of the
 * wrong type. A default of `null` accepts any value; `nullable` lists dotted fields
 * that may be set to null.
 */
export function mergeConfig<T extends object>(
  defaults: T,
  overrides: unknown,
  options: { prefix?: string; nullable?: readonly string[] } = {},
): T {
  const prefix = options.prefix ?? "";
  if (overrides === undefined) return structuredClone(defaults);
  if (!isPlainObject(overrides)) {
    throw new ConfigError(prefix || "(root)", `expected an object, got ${kindOf(overrides)}`);
  }
  const out = structuredClone(defaults) as Plain;
  const known = Object.keys(out);
  for (const [key, value] of Object.entries(overrides)) {
    const field = prefix ? `${prefix}.${key}` : key;
    if (!(key in out)) {
      throw new ConfigError(field, `unknown key; expected one of: ${known.join(", ")}`);
    }
    const current = out[key];
    if (value === null && (current === null || options.nullable?.includes(field))) {
      out[key] = null;
    } else if (current === null || current === undefined) {
      out[key] = value;
    } else if (isPlainObject(current)) {
      out[key] = mergeConfig(current, value, { ...options, prefix: field });
    } else if (kindOf(current) !== kindOf(value)) {
      throw new ConfigError(
        field,
        `expected ${kindOf(current)}, got ${kindOf(value)} (${JSON.stringify(value)})`,
      );
    } else if (typeof value === "number" && !Number.isFinite(value)) {
      throw new ConfigError(field, `expected a finite number, got ${value}`);
    } else {
      out[key] = value;
    }
  }
  return out as T;
}

/** Throws a {@linkcode ConfigError} unless `low <= value <= high`. */
export function checkRange(field: string, value: number, low: number, high: number): void {
  if (!(value >= low && value <= high)) {
    throw new ConfigError(field, `expected a number in [${low}, ${high}], got ${value}`);
  }
}

/** Throws a {@linkcode ConfigError} unless `value` is a positive integer. */
export function checkPositiveInt(field: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigError(field, `expected a positive integer, got ${value}`);
  }
}
