import assert from "node:assert/strict";
import { tokenizeForCaptionMetrics } from "./tokenize.ts";

Deno.test("tokenizeForCaptionMetrics() lowercases and drops sentence punctuation", () => {
  assert.equal(tokenizeForCaptionMetrics("A Dog runs, then SITS!"), "a dog runs then sits");
  assert.equal(tokenizeForCaptionMetrics("Wait... what?!"), "wait what");
});

Deno.test("tokenizeForCaptionMetrics() splits clitics as PTB does", () => {
  assert.equal(
    tokenizeForCaptionMetrics("The dog's bone isn't here."),
    "the dog 's bone is n't here",
  );
  assert.equal(tokenizeForCaptionMetrics("They're sure we'll go"), "they 're sure we 'll go");
});

Deno.test("tokenizeForCaptionMetrics() keeps word-internal hyphens and numbers", () => {
  assert.equal(
    tokenizeForCaptionMetrics("A black-and-white photo of 3.5 cats -- (maybe)"),
    "a black-and-white photo of 3.5 cats maybe",
  );
});

Deno.test("tokenizeForCaptionMetrics() drops quotes and collapses whitespace", () => {
  assert.equal(tokenizeForCaptionMetrics(' "Hello"\n\tworld  '), "hello world");
  assert.equal(tokenizeForCaptionMetrics("...!"), "");
});
