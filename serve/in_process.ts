/**
 * The served model without HTTP: a {@linkcode CompleteText} that hands each request to a
 * {@linkcode CompletionService} directly, shaped as the HTTP client shapes it (token-id prompts,
 * one seeded request per prompt), so a guide behind `serve` and the same guide in-process give
 * the same completions.
 * @module
 */
import type { CompleteText } from "../models/text_guide.ts";
import type { CompletionService } from "./service.ts";

/**
 * Completions from a service in this process.
 * @param service the completion service of the guide model
 * @returns the completion function (prompts go as token ids when the caller gives them)
 */
export function inProcessCompletions(service: CompletionService): CompleteText {
  const ask = async (
    prompt: string | number[][] | string[],
    request: Parameters<CompleteText>[1],
    seed: number | undefined,
    minTokens: number,
  ) => {
    const response = await service.completions({
      model: service.modelName,
      prompt,
      max_tokens: request.maxNewTokens,
      ...(minTokens > 0 ? { min_tokens: minTokens } : {}),
      temperature: request.temperature ?? 0,
      top_p: request.topP ?? 1,
      ...(seed !== undefined ? { seed } : {}),
    }) as { choices: { index: number; text: string }[] };
    const texts: string[] = [];
    for (const choice of response.choices) texts[choice.index] = choice.text;
    return texts;
  };
  return async (prompts, request) => {
    const ids = request.promptIds;
    const sampled = (request.temperature ?? 0) > 0;
    const mins = request.minNewTokens;
    if (!sampled || !request.seeds) {
      return await ask(ids ?? prompts, request, undefined, mins ? Math.min(...mins) : 0);
    }
    // a seed is per request: one request per prompt, all queued at once (the service batches them)
    const answers = await Promise.all(
      prompts.map((text, i) =>
        ask(ids ? [ids[i]] : [text], request, request.seeds![i], mins ? mins[i] : 0)
      ),
    );
    return answers.map(([text]) => text);
  };
}
