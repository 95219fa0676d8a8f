/**
 * Registers the gradients of tfjs's built-in ops. tfjs-core ships none in its
 * bundles (its `dist/register_all_gradients.js` is unbundled ESM that Deno cannot
 * load), and the union package `@tensorflow/tfjs` registers all of them on the
 * same tfjs-core instance as a side effect of being imported.
 * @module
 */
import "@tensorflow/tfjs";
