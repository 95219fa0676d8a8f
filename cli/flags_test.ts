import assert from "node:assert/strict";
import { choiceFlag, closest, FlagError, integerFlag, parseFlags } from "./flags.ts";
import { isInputProblem } from "./cli_io.ts";

const OPTIONS = {
  preset: { type: "string" },
  seed: { type: "string" },
  "max-new-tokens": { type: "string" },
  json: { type: "boolean" },
} as const;

Deno.test("parseFlags() reads values, switches, --flag=value and -h", () => {
  const { values } = parseFlags(["--preset", "toy", "--seed=3", "--json"], OPTIONS);
  assert.deepEqual({ ...values }, { preset: "toy", seed: "3", json: true });
  assert.equal(parseFlags(["-h"], OPTIONS).values.help, true);
});

Deno.test("parseFlags() reads a negative number as the value, so the number check can name it", () => {
  const { values } = parseFlags(["--max-new-tokens", "-5"], OPTIONS);
  assert.equal(values["max-new-tokens"], "-5");
  assert.throws(
    () => integerFlag("--max-new-tokens", values["max-new-tokens"] as string, 1),
    /^FlagError: flag --max-new-tokens: expected a positive integer, got "-5"$/,
  );
});

Deno.test("parseFlags() turns each mistake into one line naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [
      ["--presets", "toy"],
      /^unknown flag --presets \(did you mean --preset\?\); flags: --help, --preset/,
    ],
    [["--sed", "1"], /^unknown flag --sed \(did you mean --seed\?\)/],
    [["--zzzzzz"], /^unknown flag --zzzzzz; flags:/],
    [["-x"], /^unknown flag -x; flags:/],
    [["--seed"], /^flag --seed needs a value$/],
    [["--seed", "--json"], /^flag --seed needs a value$/],
    [["--json=yes"], /^flag --json is a switch and takes no value, got "--json=yes"$/],
    [["toy"], /^unexpected argument "toy": this command takes only flags; see --help$/],
  ];
  for (const [argv, pattern] of cases) {
    assert.throws(() => parseFlags(argv, OPTIONS), (error: Error) => {
      assert.ok(error instanceof FlagError, `${argv.join(" ")}: ${error}`);
      assert.ok(isInputProblem(error)); // one line, no stack trace
      assert.ok(!error.message.includes("\n"));
      assert.match(error.message, pattern);
      return true;
    });
  }
  assert.throws(
    () => parseFlags(["toy"], OPTIONS, { hint: (a) => (a === "toy" ? "--preset toy" : null) }),
    /unexpected argument "toy": this command takes only flags \(did you mean --preset toy\?\)/,
  );
  assert.deepEqual(parseFlags(["a", "b"], OPTIONS, { positionals: true }).positionals, ["a", "b"]);
});

Deno.test("integerFlag() and choiceFlag() name the flag and what was expected", () => {
  assert.equal(integerFlag("--seed", undefined), undefined);
  assert.equal(integerFlag("--seed", "0"), 0);
  assert.throws(
    () => integerFlag("--seed", "1.5"),
    /flag --seed: expected a non-negative integer, got "1.5"/,
  );
  assert.throws(() => integerFlag("--seed", ""), /got ""/);
  assert.throws(() => integerFlag("--iterations", "0", 1), /expected a positive integer, got "0"/);
  assert.equal(choiceFlag("--preset", "toy", ["toy", "imdb-small"], "preset"), "toy");
  assert.throws(
    () => choiceFlag("--preset", "imdb-smal", ["toy", "imdb-small"], "preset"),
    /^FlagError: flag --preset: unknown preset "imdb-smal" \(did you mean imdb-small\?\); expected one of: toy, imdb-small$/,
  );
  assert.equal(closest("ppo+", ["ppo", "ppo++", "lols"]), "ppo");
  assert.equal(closest("qqqq", ["ppo", "lols"]), null);
});
