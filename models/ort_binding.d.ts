// Types of onnxruntime-node's internal dist/binding.js, as models/ort_sync.ts uses it.
export const binding: unknown;
export function initOrt(): void;
