/**
 * Errors that say where bad input came from and what was expected.
 * @module
 */

/** Bad input: a file, line or field that is missing or malformed. */
export class InputError extends Error {
  /**
   * Builds the error; `where`, when given, is prefixed so the message alone locates the input.
   *
   * @param message what is wrong and what was expected
   * @param where the file (and line or field) it concerns, prefixed to the message
   */
  constructor(message: string, readonly where?: string) {
    super(where ? `${where}: ${message}` : message);
    this.name = "InputError";
  }
}

/** Bad configuration: an unknown key or a value out of range. */
export class ConfigError extends Error {
  /**
   * Builds the error with the message prefixed by the offending field's path.
   *
   * @param field the dotted path of the offending key, e.g. `learner.clipRange`
   * @param message what is wrong and what was expected
   */
  constructor(readonly field: string, message: string) {
    super(`Config field "${field}": ${message}`);
    this.name = "ConfigError";
  }
}
