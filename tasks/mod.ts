/**
 * Tasks and their data: IMDB and CommonGen readers (JSONL, original folders, Hugging Face
 * parquet), the aclImdb download, and the two `Task`s of the paper.
 * @module
 */
export type { GenerationDefaults, PromptRecord, Split, Task } from "./types.ts";
export {
  type FieldKinds,
  type JsonlRecord,
  LineSplitStream,
  openTextLines,
  readJsonl,
  requireField,
} from "./jsonl.ts";
export { type ParquetColumnKind, readParquetRows } from "./parquet.ts";
export { DATA_DIR_ENV, resolveDataDir } from "./data_dir.ts";
export {
  type ImdbPrompt,
  imdbPrompt,
  type ImdbReview,
  type ImdbSplit,
  loadImdbSplit,
  readAclImdbFolder,
  readImdbJsonl,
  readImdbParquet,
} from "./imdb.ts";
export {
  createImdbTask,
  IMDB_GENERATION,
  type ImdbSplitIndices,
  imdbSplitIndices,
  type ImdbTaskOptions,
} from "./imdb_task.ts";
export {
  commonGenConcepts,
  commonGenPrompt,
  type CommonGenReadOptions,
  type CommonGenSplit,
  type ConceptSet,
  loadCommonGenSplit,
  readCommonGen,
} from "./commongen.ts";
export {
  COMMONGEN_GENERATION,
  commonGenRecords,
  type CommonGenTaskOptions,
  createCommonGenTask,
  withCoverage,
} from "./commongen_task.ts";
export {
  spanCorruption,
  type SpanCorruptionOptions,
  type SpanCorruptionPair,
} from "./span_corruption.ts";
export {
  ACL_IMDB_SHA256,
  ACL_IMDB_URL,
  type AclImdbOptions,
  defaultCacheDir,
  downloadFile,
  type DownloadOptions,
  type DownloadProgress,
  ensureAclImdb,
  imdbDataDir,
  sha256File,
} from "./download.ts";
export { extractTarGz, readTar, type TarEntry } from "./tar.ts";
export {
  TOY_ALPHABET,
  toyDenseTask,
  toyGuide,
  toySparseTask,
  type ToyTaskOptions,
  ToyTokenizer,
} from "./toy.ts";
