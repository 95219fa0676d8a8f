/**
 * What the commands share for output and errors: an injectable pair of line
 * writers (so tests capture them) and the one-line error rule.
 * @module
 */
import { ConfigError, InputError } from "../core/errors.ts";

/** Where a command writes: result lines (stdout) and notes and errors (stderr). */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** stdout and stderr. */
export const CONSOLE_IO: CliIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/**
 * The first line of an error's message.
 * @param error anything thrown
 * @returns one line
 */
export function oneLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split("\n")[0];
}

/**
 * Whether an error is about the user's input (bad flag, config, file or folder),
 * which gets a one-line message and no stack trace.
 * @param error anything thrown
 * @returns true for input problems
 */
export function isInputProblem(error: unknown): boolean {
  return error instanceof InputError || error instanceof ConfigError ||
    error instanceof RangeError ||
    (error instanceof TypeError &&
      String((error as { code?: string }).code ?? "").startsWith("ERR_PARSE_ARGS"));
}

/**
 * Runs a command body, turning a thrown error into `error: <one line>` on
 * stderr (plus the stack for unexpected errors) and exit code 1.
 * @param body the command
 * @param io where the error goes
 * @returns the exit code (0 ok, 1 error)
 */
export async function runCommand(body: () => Promise<unknown>, io: CliIo): Promise<number> {
  try {
    await body();
    return 0;
  } catch (error) {
    io.err(`error: ${oneLine(error)}`);
    if (!isInputProblem(error)) io.err(String((error as Error)?.stack ?? ""));
    return 1;
  }
}
