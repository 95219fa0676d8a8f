/**
 * Core utilities: seeded random streams, strict config merging, atomic writes, errors.
 * @module
 */
export { Rng, type RngState } from "./prng.ts";
export { checkPositiveInt, checkRange, mergeConfig } from "./config.ts";
export { writeDirAtomic, writeFileAtomic, writeJsonAtomic } from "./atomic.ts";
export { ConfigError, InputError } from "./errors.ts";
export { jsonlParseStream, jsonlStringifyStream, lineStream, operatorStream } from "./streams.ts";
