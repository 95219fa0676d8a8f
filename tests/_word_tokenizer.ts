/** A word-level test tokenizer: id 0 is EOS, each other id a word with its leading space. */
import type { Tokenizer } from "../models/types.ts";

const WORDS = ["<eos>", "the", " film", " was", " great", " bad", " fun"];

/** The tokenizer over "<eos>", "the", " film", " was", " great", " bad", " fun". */
export const wordTokenizer: Tokenizer = {
  vocabSize: WORDS.length,
  eosTokenId: 0,
  padTokenId: 0,
  encode: (text) => (text.match(/<eos>| ?[a-z]+/g) ?? []).map((w) => WORDS.indexOf(w)),
  decode: (ids) => ids.map((i) => WORDS[i]).join(""),
};
