/**
 * Differentiable building blocks with hand-written gradients. tfjs-wasm runs
 * matMul on its fast path only without transpose flags (and with no batch
 * dimension), and it has no UnsortedSegmentSum kernel for tf.gather's
 * gradient (environment.md), so these gradients use explicit transposes and a
 * host-side scatter-add. Each forward is plain tf ops, so kernels registered
 * later for those ops speed them up unchanged.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
// tfjs-core registers no gradients; the union package's bundle registers them all
// (its ESM register_all_gradients uses extensionless imports that Deno cannot resolve)
import "@tensorflow/tfjs";

type Grad = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
type Forward = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => { value: tf.Tensor; gradFunc: Grad };

function customGrad(f: Forward): (...inputs: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (
    ...inputs: tf.Tensor[]
  ) => tf.Tensor;
}

const denseOp = customGrad((x, w, b, save) => {
  (save as tf.GradSaveFunc)([x as tf.Tensor, w as tf.Tensor]);
  return {
    value: tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b as tf.Tensor),
    gradFunc: (dy, [xs, ws]) => [
      tf.matMul(dy as tf.Tensor2D, tf.transpose(ws as tf.Tensor2D)), // [N, in]
      tf.matMul(tf.transpose(xs as tf.Tensor2D), dy as tf.Tensor2D), // [in, out]
      tf.sum(dy, 0), // [out]
    ],
  };
});

/**
 * Hugging Face's Conv1D: `x · W + b`.
 * @param x [N, in]
 * @param w [in, out]
 * @param b [out]
 * @returns [N, out]
 */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return denseOp(x, w, b) as tf.Tensor2D;
}

const lmHeadOp = customGrad((h, wte, save) => {
  (save as tf.GradSaveFunc)([h as tf.Tensor, wte as tf.Tensor]);
  return {
    value: tf.matMul(h as tf.Tensor2D, tf.transpose(wte as tf.Tensor2D)),
    gradFunc: (dy, [hs, ws]) => [
      tf.matMul(dy as tf.Tensor2D, ws as tf.Tensor2D), // [N, C]
      // hᵀ·dy is [C, V]; transposing that is cheaper than transposing dy [N, V]
      tf.transpose(tf.matMul(tf.transpose(hs as tf.Tensor2D), dy as tf.Tensor2D)),
    ],
  };
});

/**
 * The tied LM head: `h · wteᵀ`.
 * @param h [N, C] final hidden states
 * @param wte [V, C] token embedding table
 * @returns [N, V] logits
 */
export function lmHead(h: tf.Tensor2D, wte: tf.Tensor2D): tf.Tensor2D {
  return lmHeadOp(h, wte) as tf.Tensor2D;
}

/**
 * Embedding lookup whose gradient is a host-side scatter-add (tf.gather's
 * gradient needs UnsortedSegmentSum, which wasm lacks).
 * @param table [V, C]
 * @param ids N row indices in [0, V)
 * @returns [N, C]
 */
export function embedding(table: tf.Tensor2D, ids: Int32Array): tf.Tensor2D {
  const [vocab, width] = table.shape;
  const op = customGrad((t) => ({
    value: tf.gather(t as tf.Tensor2D, tf.tensor1d(ids, "int32")),
    gradFunc: (dy) => {
      const rows = dy.dataSync() as Float32Array;
      const grad = new Float32Array(vocab * width);
      for (let i = 0; i < ids.length; i++) {
        const to = ids[i] * width;
        const from = i * width;
        for (let j = 0; j < width; j++) grad[to + j] += rows[from + j];
      }
      return [tf.tensor2d(grad, [vocab, width])];
    },
  }));
  return op(table) as tf.Tensor2D;
}

/**
 * log softmax(logits)[target] per row, with the fused gradient
 * `dy · (onehot(target) - softmax(logits))`.
 * @param logits [N, V]
 * @param targets N token ids
 * @returns [N] log-probabilities
 */
export function tokenLogProbs(logits: tf.Tensor2D, targets: Int32Array): tf.Tensor1D {
  const [n, vocab] = logits.shape;
  const flat = new Int32Array(n);
  for (let i = 0; i < n; i++) flat[i] = i * vocab + targets[i];
  const op = customGrad((z, save) => {
    const lse = tf.logSumExp(z as tf.Tensor2D, 1, true); // [N, 1]
    (save as tf.GradSaveFunc)([z as tf.Tensor, lse]);
    const picked = tf.gather(tf.reshape(z as tf.Tensor, [-1]), tf.tensor1d(flat, "int32"));
    return {
      value: tf.sub(picked, tf.reshape(lse, [-1])),
      gradFunc: (dy, [zs, lses]) => {
        const probs = tf.exp(tf.sub(zs, lses));
        // wasm's OneHot ignores a float32 dtype (writes int bits): build int32, then cast
        const onehot = tf.cast(tf.oneHot(tf.tensor1d(targets, "int32"), vocab), "float32");
        return [tf.mul(tf.reshape(dy, [n, 1]), tf.sub(onehot, probs))];
      },
    };
  });
  return op(logits) as tf.Tensor1D;
}

/**
 * Entropy of softmax(logits) per row, with the gradient
 * `-p · (log p + H)`.
 * @param logits [N, V]
 * @returns [N] entropies in nats
 */
export function softmaxEntropy(logits: tf.Tensor2D): tf.Tensor1D {
  const n = logits.shape[0];
  const op = customGrad((z, save) => {
    const logp = tf.logSoftmax(z as tf.Tensor2D, 1);
    const p = tf.exp(logp);
    const h = tf.neg(tf.sum(tf.mul(p, logp), 1)); // [N]
    (save as tf.GradSaveFunc)([p, logp, h]);
    return {
      value: h,
      gradFunc: (dy, [ps, logps, hs]) => [
        tf.mul(
          tf.reshape(dy, [n, 1]),
          tf.neg(tf.mul(ps, tf.add(logps, tf.reshape(hs, [n, 1])))),
        ),
      ],
    };
  });
  return op(logits) as tf.Tensor1D;
}
