import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { Rng } from "../../core/prng.ts";
import { type DType, Graph, type Value } from "./builder.ts";
import { trainingModels } from "./autodiff.ts";

/** One input of an op under test: its shape and how to fill it. */
interface InputSpec {
  shape: number[];
  /** Float inputs: the range values are drawn from (default [-1.5, 1.5]). */
  range?: [number, number];
  /** Int64 inputs (indices, bounds): their fixed values. */
  ints?: number[];
}

const SESSION: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  graphOptimizationLevel: "disabled",
  logSeverityLevel: 3,
};

function tensor(dtype: DType, data: Float64Array | number[], dims: number[]): ort.Tensor {
  if (dtype === "int64") return new ort.Tensor("int64", BigInt64Array.from(data, BigInt), dims);
  if (dtype === "float64") return new ort.Tensor("float64", Float64Array.from(data), dims);
  return new ort.Tensor("float32", Float32Array.from(data), dims);
}

/**
 * Checks the derived gradient of `build` against central finite differences of
 * L = Σ y·r (r random) on every float input: per element for small inputs,
 * along random directions for large ones. Float64 graphs unless the op has
 * float32 kernels only.
 */
async function checkGradient(
  build: (g: Graph, x: Value[]) => Value,
  specs: InputSpec[],
  dtype: "float64" | "float32" = "float64",
  seed = 1,
) {
  const rng = new Rng(seed);
  const g = new Graph();
  const inputs = specs.map((s, i) => g.input(`x${i}`, s.ints ? "int64" : dtype, s.shape));
  const data = specs.map((s) => {
    if (s.ints) return Float64Array.from(s.ints);
    const [lo, hi] = s.range ?? [-1.5, 1.5];
    return Float64Array.from(
      { length: s.shape.reduce((p, d) => p * d, 1) },
      () => lo + (hi - lo) * rng.random(),
    );
  });
  const y = g.name(build(g, inputs), "y");
  const plain = await ort.InferenceSession.create(
    g.model({ name: "op", inputs, outputs: [y] }),
    SESSION,
  );
  const feeds = (values: Float64Array[]) =>
    Object.fromEntries(
      inputs.map((v, i) => [v.name, tensor(v.dtype, values[i], specs[i].shape)]),
    );
  const first = (await plain.run(feeds(data))).y;
  const r = Float64Array.from({ length: first.size }, () => rng.random() * 2 - 1);
  const loss = async (values: Float64Array[]) => {
    const out = (await plain.run(feeds(values))).y.data as Float64Array | Float32Array;
    let sum = 0;
    out.forEach((v, i) => (sum += v * r[i]));
    return sum;
  };

  const seedValue = g.input("dy", dtype, y.shape);
  const floats = inputs.filter((v) => v.dtype !== "int64");
  const models = trainingModels(g, {
    name: "op",
    inputs,
    outputs: [y],
    seeds: [seedValue],
    wrt: floats,
  });
  const forward = await ort.InferenceSession.create(models.forward, SESSION);
  const backward = await ort.InferenceSession.create(models.backward, SESSION);
  const out = await forward.run(feeds(data));
  const backFeeds: Record<string, ort.Tensor> = {
    ...feeds(data),
    dy: tensor(dtype, r, first.dims as number[]),
  };
  for (const name of models.saved) backFeeds[name] = out[name];
  const picked = Object.fromEntries(backward.inputNames.map((n) => [n, backFeeds[n]]));
  const grads = await backward.run(picked);

  const h = dtype === "float64" ? 1e-6 : 1e-3;
  const tolerance = dtype === "float64" ? 1e-6 : 2e-3;
  for (const [k, v] of floats.entries()) {
    const i = inputs.indexOf(v);
    const name = models.gradients[k];
    assert.ok(name, `x${i}: no gradient`);
    const analytic = grads[name].data as Float64Array;
    assert.equal(analytic.length, data[i].length, `x${i}: gradient size`);
    const scale = Math.max(1e-3, ...Array.from(analytic, Math.abs));
    const directions: Float64Array[] = [];
    if (data[i].length <= 48) {
      for (let j = 0; j < data[i].length; j++) {
        const u = new Float64Array(data[i].length);
        u[j] = 1;
        directions.push(u);
      }
    } else {
      for (let j = 0; j < 4; j++) {
        directions.push(Float64Array.from(data[i], () => rng.random() * 2 - 1));
      }
    }
    for (const u of directions) {
      const shifted = (sign: number) =>
        data.map((d, j) => (j === i ? Float64Array.from(d, (x, e) => x + sign * h * u[e]) : d));
      const numeric = ((await loss(shifted(1))) - (await loss(shifted(-1)))) / (2 * h);
      let exact = 0;
      u.forEach((ue, e) => (exact += ue * analytic[e]));
      const norm = Math.max(1, Math.sqrt(u.reduce((s, x) => s + x * x, 0)));
      assert.ok(
        Math.abs(numeric - exact) <= tolerance * scale * norm,
        `x${i}: finite difference ${numeric} vs derived ${exact} (scale ${scale})`,
      );
    }
  }
  await Promise.all([plain.release(), forward.release(), backward.release()]);
}

const POSITIVE: [number, number] = [0.5, 2];

Deno.test("graph gradients: elementwise arithmetic with broadcasting", async () => {
  const pairs: [number[], number[]][] = [[[7, 1], [1, 129]], [[1], [7, 3]], [[3], [2, 3]], [
    [1],
    [1],
  ]];
  for (const [a, b] of pairs) {
    await checkGradient((g, [x, y]) => g.add(x, y), [{ shape: a }, { shape: b }]);
    await checkGradient((g, [x, y]) => g.sub(x, y), [{ shape: a }, { shape: b }]);
    await checkGradient((g, [x, y]) => g.mul(x, y), [{ shape: a }, { shape: b }]);
    await checkGradient((g, [x, y]) => g.div(x, y), [{ shape: a }, { shape: b, range: POSITIVE }]);
  }
  await checkGradient((g, [x, y, z]) => g.sum([x, y, z]), [{ shape: [7, 1] }, { shape: [3] }, {
    shape: [1, 1],
  }]);
});

Deno.test("graph gradients: unary functions", async () => {
  const shape = { shape: [7, 3] };
  const positive = { shape: [7, 3], range: POSITIVE };
  await checkGradient((g, [x]) => g.neg(x), [shape]);
  await checkGradient((g, [x]) => g.exp(x), [shape]);
  await checkGradient((g, [x]) => g.log(x), [positive]);
  await checkGradient((g, [x]) => g.sqrt(x), [positive]);
  await checkGradient((g, [x]) => g.reciprocal(x), [positive]);
  await checkGradient((g, [x]) => g.tanh(x), [shape]);
  await checkGradient((g, [x]) => g.sigmoid(x), [shape]);
  await checkGradient((g, [x]) => g.pow(x, 3), [shape]);
  await checkGradient((g, [x, p]) => g.pow(x, p), [positive, { shape: [3], range: [0.5, 2.5] }]);
  // away from the kink at 0
  await checkGradient((g, [x]) => g.relu(x), [{ shape: [1, 129], range: [0.1, 1] }]);
  await checkGradient((g, [x]) => g.relu(g.neg(x)), [{ shape: [7], range: [0.1, 1] }]);
  await checkGradient((g, [x]) => g.identity(g.cast(x, "float64")), [shape]);
  // ONNX Runtime runs these in float32 only
  await checkGradient((g, [x]) => g.fastGelu(x), [{ shape: [7, 5], range: [-3, 3] }], "float32");
  await checkGradient((g, [x]) => g.gelu(x), [{ shape: [7, 5], range: [-3, 3] }], "float32");
  await checkGradient((g, [x]) => g.erf(x), [{ shape: [1, 7] }], "float32");
});

Deno.test("graph gradients: matrix products", async () => {
  await checkGradient((g, [a, b]) => g.matmul(a, b), [{ shape: [2, 7, 5] }, { shape: [5, 3] }]);
  await checkGradient((g, [a, b]) => g.matmul(a, b), [{ shape: [2, 3, 7, 4] }, {
    shape: [2, 3, 4, 1],
  }]);
  await checkGradient((g, [a, b]) => g.matmul(a, b), [{ shape: [1, 7, 4] }, { shape: [3, 4, 2] }]);
  await checkGradient((g, [a, b]) => g.matmul(a, b), [{ shape: [129, 1] }, { shape: [1, 7] }]);
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const a = transA ? [5, 7] : [7, 5], b = transB ? [3, 5] : [5, 3];
      for (const c of [[3], [7, 3], [1]]) {
        await checkGradient(
          (g, [x, y, z]) => g.gemm(x, y, z, { transA, transB, alpha: 0.5 }),
          [{ shape: a }, { shape: b }, { shape: c }],
        );
      }
    }
  }
});

Deno.test("graph gradients: reductions, softmax and LayerNorm", async () => {
  for (const [axes, keep] of [[[0], false], [[-1], true], [[0, 2], false]] as const) {
    await checkGradient((g, [x]) => g.reduceSum(x, axes, keep), [{ shape: [1, 7, 13] }]);
    await checkGradient((g, [x]) => g.reduceMean(x, axes, keep), [{ shape: [3, 7, 5] }]);
    await checkGradient((g, [x]) => g.reduceMax(x, axes, keep), [{ shape: [3, 7, 5] }]);
  }
  await checkGradient((g, [x]) => g.softmax(x, -1), [{ shape: [7, 129] }]);
  await checkGradient((g, [x]) => g.softmax(x, 1), [{ shape: [2, 7, 3] }]);
  await checkGradient((g, [x]) => g.logSoftmax(x, -1), [{ shape: [3, 129] }]);
  await checkGradient((g, [x]) => g.logSoftmax(x, 0), [{ shape: [7, 1] }]);
  await checkGradient(
    (g, [x, w, b]) => g.layerNorm(x, w, b, 1e-5),
    [{ shape: [7, 129] }, { shape: [129] }, { shape: [129] }],
    "float32", // ONNX Runtime has no float64 LayerNormalization
  );
  await checkGradient(
    (g, [x, w, b]) => g.layerNorm(x, w, b, 1e-5),
    [{ shape: [2, 3, 7] }, { shape: [7] }, { shape: [7] }],
    "float32",
  );
});

Deno.test("graph gradients: gathers and scatters (repeated indices)", async () => {
  await checkGradient((g, [table, ids]) => g.gather(table, ids), [{ shape: [11, 5] }, {
    shape: [7],
    ints: [3, 0, 3, 10, 1, 3, 0],
  }]);
  await checkGradient((g, [table, ids]) => g.gather(table, ids), [{ shape: [4, 3] }, {
    shape: [2, 3],
    ints: [0, 1, 1, 3, 3, 3],
  }]);
  await checkGradient((g, [x, ids]) => g.gatherElements(x, ids, 1), [{ shape: [7, 11] }, {
    shape: [7, 2],
    ints: [0, 0, 5, 10, 1, 2, 3, 3, 9, 4, 6, 7, 2, 2],
  }]);
});

Deno.test("graph gradients: shape ops", async () => {
  const x = { shape: [2, 3, 7] };
  await checkGradient((g, [v]) => g.reshape(v, [0, -1]), [x]);
  await checkGradient((g, [v]) => g.transpose(v, [2, 0, 1]), [x]);
  await checkGradient((g, [v]) => g.squeeze(v, [0]), [{ shape: [1, 7] }]);
  await checkGradient((g, [v]) => g.unsqueeze(v, [0, 3]), [x]);
  await checkGradient((g, [a, b]) => g.concat([a, b], 1), [{ shape: [2, 1, 7] }, x]);
  await checkGradient((g, [v]) => g.mul(g.split(v, [1, 2], 1)[1], 2), [x]);
  await checkGradient((g, [v]) => g.slice(v, [1, -5], [3, 100], [1, 2]), [x]);
  await checkGradient((g, [v, s, e]) => g.slice(v, s, e, [1]), [x, { shape: [1], ints: [-2] }, {
    shape: [1],
    ints: [3],
  }]);
  await checkGradient((g, [v]) => g.expand(v, [7, 129]), [{ shape: [7, 1] }]);
  await checkGradient((g, [v]) => g.pad(v, [0, 1, 0, 2]), [{ shape: [7, 3] }]);
  await checkGradient((g, [c, a, b]) => g.where(g.greater(c, 0), a, b), [
    { shape: [7, 3], ints: Array.from({ length: 21 }, (_, i) => (i * 7) % 5 - 2) },
    { shape: [3] },
    { shape: [7, 1] },
  ]);
});

Deno.test("graph gradients: shared values accumulate, unused inputs get none", async () => {
  await checkGradient((g, [x, w]) => g.add(g.mul(x, x), g.matmul(x, g.mul(w, w))), [
    { shape: [7, 7] },
    { shape: [7, 7] },
  ]);
  const g = new Graph();
  const [x, w] = [g.input("x", "float32", [3]), g.input("w", "float32", [3])];
  const y = g.mul(x, 2);
  const models = trainingModels(g, {
    name: "t",
    inputs: [x, w],
    outputs: [y],
    seeds: [g.input("dy", "float32", [3])],
    wrt: [x, w],
  });
  assert.deepEqual(models.gradients, ["grad.x", null]);
  // the backward of y = 2x reads neither x nor any forward value
  assert.deepEqual(models.saved, []);
});
