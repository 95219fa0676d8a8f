// Batched single-precision matrix product, segment sum, column sums and SIMD exp, tanh and integer
// powers for WebAssembly SIMD (wasm32 + simd128), the kernels behind kernels/register.ts.
//
// Built without a C library: every buffer (operands, outputs, packing scratch) is an address handed
// in by the caller, so the module can import the memory of tfjs-wasm and work on its tensors in
// place. No function keeps arrays on a stack, which matters because the linker's stack region would
// lie inside memory that tfjs owns.
//
// The product follows the packed panel scheme of GotoBLAS/BLIS: A is packed into MR-row panels and B
// into NR-column panels (zero padded), and a register-blocked micro kernel accumulates an MR x NR tile
// of C over a KC-long slice of the inner dimension. Element strides describe every operand, so
// transposed inputs cost only a different packing walk instead of a slow kernel.

#include <wasm_simd128.h>

#define MR 4
#define NR 8
#define KC 256
#define MC 128
#define NC 512

typedef unsigned int u32;

/// Floats of scratch the product needs: one packed A block, one packed B block, one edge tile.
u32 gemm_scratch_floats(void) { return MC * KC + KC * NC + MR * NR; }

// Packs rows [0, mc) x inner [0, kc) of A into MR-row panels laid out [panel][k][MR].
static void pack_a(const float *a, int rsa, int csa, int mc, int kc, float *ap) {
  for (int i0 = 0; i0 < mc; i0 += MR) {
    int rows = mc - i0 < MR ? mc - i0 : MR;
    const float *src = a + i0 * rsa;
    if (rows == MR && csa == 1) {
      const float *r0 = src, *r1 = src + rsa, *r2 = src + 2 * rsa, *r3 = src + 3 * rsa;
      for (int k = 0; k < kc; k++) {
        ap[0] = r0[k];
        ap[1] = r1[k];
        ap[2] = r2[k];
        ap[3] = r3[k];
        ap += MR;
      }
    } else if (rows == MR && rsa == 1) {
      // A is transposed: the MR values of one k are contiguous.
      for (int k = 0; k < kc; k++) {
        wasm_v128_store(ap, wasm_v128_load(src + k * csa));
        ap += MR;
      }
    } else {
      for (int k = 0; k < kc; k++) {
        for (int r = 0; r < MR; r++) ap[r] = r < rows ? src[r * rsa + k * csa] : 0.0f;
        ap += MR;
      }
    }
  }
}

// Packs inner [0, kc) x columns [0, nc) of B into NR-column panels laid out [panel][k][NR].
static void pack_b(const float *b, int rsb, int csb, int kc, int nc, float *bp) {
  for (int j0 = 0; j0 < nc; j0 += NR) {
    int cols = nc - j0 < NR ? nc - j0 : NR;
    const float *src = b + j0 * csb;
    if (cols == NR && csb == 1) {
      for (int k = 0; k < kc; k++) {
        const float *row = src + k * rsb;
        wasm_v128_store(bp, wasm_v128_load(row));
        wasm_v128_store(bp + 4, wasm_v128_load(row + 4));
        bp += NR;
      }
    } else if (cols == NR && rsb == 1) {
      // B is transposed: walk each of the NR source rows contiguously.
      for (int c = 0; c < NR; c++) {
        const float *col = src + c * csb;
        for (int k = 0; k < kc; k++) bp[k * NR + c] = col[k];
      }
      bp += kc * NR;
    } else {
      for (int k = 0; k < kc; k++) {
        for (int c = 0; c < NR; c++) bp[c] = c < cols ? src[k * rsb + c * csb] : 0.0f;
        bp += NR;
      }
    }
  }
}

// C tile (MR x NR, row stride ldc) = (accumulate ? C : 0) + Ap panel * Bp panel over kc.
static void micro_kernel(int kc, const float *ap, const float *bp, float *c, int ldc,
                         int accumulate) {
  v128_t c00, c01, c10, c11, c20, c21, c30, c31;
  if (accumulate) {
    c00 = wasm_v128_load(c);
    c01 = wasm_v128_load(c + 4);
    c10 = wasm_v128_load(c + ldc);
    c11 = wasm_v128_load(c + ldc + 4);
    c20 = wasm_v128_load(c + 2 * ldc);
    c21 = wasm_v128_load(c + 2 * ldc + 4);
    c30 = wasm_v128_load(c + 3 * ldc);
    c31 = wasm_v128_load(c + 3 * ldc + 4);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = wasm_f32x4_splat(0.0f);
  }
  for (int k = 0; k < kc; k++) {
    v128_t b0 = wasm_v128_load(bp);
    v128_t b1 = wasm_v128_load(bp + 4);
    v128_t a0 = wasm_v128_load32_splat(ap);
    v128_t a1 = wasm_v128_load32_splat(ap + 1);
    v128_t a2 = wasm_v128_load32_splat(ap + 2);
    v128_t a3 = wasm_v128_load32_splat(ap + 3);
    c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(a0, b0));
    c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(a0, b1));
    c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(a1, b0));
    c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(a1, b1));
    c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(a2, b0));
    c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(a2, b1));
    c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(a3, b0));
    c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(a3, b1));
    ap += MR;
    bp += NR;
  }
  wasm_v128_store(c, c00);
  wasm_v128_store(c + 4, c01);
  wasm_v128_store(c + ldc, c10);
  wasm_v128_store(c + ldc + 4, c11);
  wasm_v128_store(c + 2 * ldc, c20);
  wasm_v128_store(c + 2 * ldc + 4, c21);
  wasm_v128_store(c + 3 * ldc, c30);
  wasm_v128_store(c + 3 * ldc + 4, c31);
}

// One matrix: C[m0:m1, :] of C = op(A) op(B), C row-major with N columns.
static void gemm_one(int m0, int m1, int n, int k, const float *a, int rsa, int csa,
                     const float *b, int rsb, int csb, float *c, float *scratch) {
  float *ap = scratch;
  float *bp = scratch + MC * KC;
  float *tile = bp + KC * NC;
  for (int jc = 0; jc < n; jc += NC) {
    int nc = n - jc < NC ? n - jc : NC;
    for (int pc = 0; pc < k; pc += KC) {
      int kc = k - pc < KC ? k - pc : KC;
      int accumulate = pc > 0;
      pack_b(b + pc * rsb + jc * csb, rsb, csb, kc, nc, bp);
      for (int ic = m0; ic < m1; ic += MC) {
        int mc = m1 - ic < MC ? m1 - ic : MC;
        pack_a(a + ic * rsa + pc * csa, rsa, csa, mc, kc, ap);
        for (int jr = 0; jr < nc; jr += NR) {
          int cols = nc - jr < NR ? nc - jr : NR;
          const float *bpanel = bp + jr * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            int rows = mc - ir < MR ? mc - ir : MR;
            float *cptr = c + (ic + ir) * n + jc + jr;
            const float *apanel = ap + ir * kc;
            if (rows == MR && cols == NR) {
              micro_kernel(kc, apanel, bpanel, cptr, n, accumulate);
            } else {
              // Edge tile: run the full kernel on a private tile, then copy the valid part.
              if (accumulate) {
                for (int r = 0; r < rows; r++)
                  for (int q = 0; q < cols; q++) tile[r * NR + q] = cptr[r * n + q];
              }
              micro_kernel(kc, apanel, bpanel, tile, NR, accumulate);
              for (int r = 0; r < rows; r++)
                for (int q = 0; q < cols; q++) cptr[r * n + q] = tile[r * NR + q];
            }
          }
        }
      }
    }
  }
}

// Rows of C computed as vector sums of B rows: for few rows of A and a row-major B no packing pays.
static void gemm_rows(int m0, int m1, int n, int k, const float *a, int rsa, int csa,
                      const float *b, int rsb, float *c) {
  int n4 = n & ~3;
  for (int i = m0; i < m1; i++) {
    float *crow = c + i * n;
    for (int j = 0; j < n; j++) crow[j] = 0.0f;
    for (int p = 0; p < k; p++) {
      float av = a[i * rsa + p * csa];
      v128_t as = wasm_f32x4_splat(av);
      const float *brow = b + p * rsb;
      int j = 0;
      for (; j < n4; j += 4) {
        wasm_v128_store(crow + j, wasm_f32x4_add(wasm_v128_load(crow + j),
                                                 wasm_f32x4_mul(as, wasm_v128_load(brow + j))));
      }
      for (; j < n; j++) crow[j] += av * brow[j];
    }
  }
}

// Dot products: for few rows of A against a transposed B both operands are contiguous along k.
static void gemm_dots(int m0, int m1, int n, int k, const float *a, int rsa, const float *b,
                      int csb, float *c) {
  int k4 = k & ~3;
  for (int i = m0; i < m1; i++) {
    const float *arow = a + i * rsa;
    for (int j = 0; j < n; j++) {
      const float *bcol = b + j * csb;
      v128_t acc = wasm_f32x4_splat(0.0f);
      int p = 0;
      for (; p < k4; p += 4) {
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(arow + p), wasm_v128_load(bcol + p)));
      }
      float s = wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1) +
                wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3);
      for (; p < k; p++) s += arow[p] * bcol[p];
      c[i * n + j] = s;
    }
  }
}

/// Batched product C[b] = op(A[b]) op(B[b]) for batches [b0, b1) and rows [m0, m1) of each C.
/// A's element (b, i, p) is at a[b * bsa + i * rsa + p * csa], B's (b, p, j) at
/// b[b * bsb + p * rsb + j * csb]; a batch stride of 0 broadcasts. C is dense [batch, M, N].
/// Addresses are byte offsets into the imported memory; scratch holds gemm_scratch_floats() floats.
void gemm_batched(int b0, int b1, int m0, int m1, int m, int n, int k, const float *a, int bsa,
                  int rsa, int csa, const float *b, int bsb, int rsb, int csb, float *c,
                  float *scratch) {
  for (int bi = b0; bi < b1; bi++) {
    const float *ab = a + bi * bsa;
    const float *bb = b + bi * bsb;
    float *cb = c + bi * m * n;
    if (k == 0) {
      for (int i = m0 * n; i < m1 * n; i++) cb[i] = 0.0f;
    } else if (m1 - m0 < MR && csb == 1) {
      gemm_rows(m0, m1, n, k, ab, rsa, csa, bb, rsb, cb);
    } else if (m1 - m0 < MR && csa == 1 && rsb == 1) {
      gemm_dots(m0, m1, n, k, ab, rsa, bb, csb, cb);
    } else {
      gemm_one(m0, m1, n, k, ab, rsa, csa, bb, rsb, csb, cb, scratch);
    }
  }
}

/// out[s, :] = sum of x[i, :] over rows i with ids[i] == s; ids outside [0, segments) are dropped,
/// as in TensorFlow. x is [rows, width], out [segments, width].
void unsorted_segment_sum(const float *x, const int *ids, int rows, int width, int segments,
                          float *out) {
  int w4 = width & ~3;
  for (int i = 0; i < segments * width; i++) out[i] = 0.0f;
  for (int i = 0; i < rows; i++) {
    int s = ids[i];
    if (s < 0 || s >= segments) continue;
    const float *src = x + i * width;
    float *dst = out + s * width;
    int j = 0;
    for (; j < w4; j += 4) {
      wasm_v128_store(dst + j, wasm_f32x4_add(wasm_v128_load(dst + j), wasm_v128_load(src + j)));
    }
    for (; j < width; j++) dst[j] += src[j];
  }
}

// ---- Elementwise functions (tfjs-wasm evaluates these with scalar libm calls) ----

// e^x for four lanes: Cephes' expf range reduction and polynomial (about 1 ulp on [-87, 88]);
// below the smallest normal result it returns 0 and above the largest +inf, like expf.
static v128_t exp4(v128_t x) {
  const v128_t hi = wasm_f32x4_splat(88.3762626647949f);
  const v128_t lo = wasm_f32x4_splat(-87.3365447505531f);
  v128_t over = wasm_f32x4_gt(x, hi);
  v128_t under = wasm_f32x4_lt(x, lo);
  v128_t xc = wasm_f32x4_min(wasm_f32x4_max(x, lo), hi);
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(xc, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(xc, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t y = wasm_f32x4_splat(1.9875691500E-4f);
  y = wasm_f32x4_add(wasm_f32x4_mul(y, r), wasm_f32x4_splat(1.3981999507E-3f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, r), wasm_f32x4_splat(8.3334519073E-3f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, r), wasm_f32x4_splat(4.1665795894E-2f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, r), wasm_f32x4_splat(1.6666665459E-1f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, r), wasm_f32x4_splat(5.0000001201E-1f));
  y = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(y, r), r), r),
                     wasm_f32x4_splat(1.0f));
  v128_t scale = wasm_i32x4_shl(
      wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  y = wasm_f32x4_mul(y, scale);
  y = wasm_v128_andnot(y, under);
  return wasm_v128_bitselect(wasm_f32x4_splat(__builtin_inff()), y, over);
}

// tanh for four lanes: Cephes' tanhf odd polynomial below |x| = 0.625, else
// sign(x) (1 - 2 / (e^{2|x|} + 1)).
static v128_t tanh4(v128_t x) {
  v128_t ax = wasm_f32x4_abs(x);
  v128_t z = wasm_f32x4_mul(x, x);
  v128_t p = wasm_f32x4_splat(-5.70498872745E-3f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), wasm_f32x4_splat(2.06390887954E-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), wasm_f32x4_splat(-5.37397155531E-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), wasm_f32x4_splat(1.33314422036E-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), wasm_f32x4_splat(-3.33332819422E-1f));
  v128_t small = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, z), x), x);
  v128_t e = exp4(wasm_f32x4_add(ax, ax));
  v128_t big = wasm_f32x4_sub(wasm_f32x4_splat(1.0f),
                              wasm_f32x4_div(wasm_f32x4_splat(2.0f),
                                             wasm_f32x4_add(e, wasm_f32x4_splat(1.0f))));
  // copy the sign of x onto 1 - 2 / (e + 1), which is >= 0
  big = wasm_v128_or(big, wasm_v128_and(x, wasm_i32x4_splat((int)0x80000000)));
  return wasm_v128_bitselect(small, big, wasm_f32x4_lt(ax, wasm_f32x4_splat(0.625f)));
}

/// out[i] = e^x[i] for i < size.
void exp_f32(const float *x, int size, float *out) {
  int i = 0;
  for (; i + 4 <= size; i += 4) wasm_v128_store(out + i, exp4(wasm_v128_load(x + i)));
  for (; i < size; i++) out[i] = wasm_f32x4_extract_lane(exp4(wasm_f32x4_splat(x[i])), 0);
}

/// out[i] = tanh(x[i]) for i < size.
void tanh_f32(const float *x, int size, float *out) {
  int i = 0;
  for (; i + 4 <= size; i += 4) wasm_v128_store(out + i, tanh4(wasm_v128_load(x + i)));
  for (; i < size; i++) {
    v128_t r = tanh4(wasm_f32x4_splat(x[i]));
    out[i] = wasm_f32x4_extract_lane(r, 0);
  }
}

/// out[i] = x[i]^n for a small non-negative integer n, by repeated multiplication.
void pow_int_f32(const float *x, int size, int n, float *out) {
  int i = 0;
  for (; i + 4 <= size; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    v128_t r = wasm_f32x4_splat(1.0f);
    for (int p = 0; p < n; p++) r = wasm_f32x4_mul(r, v);
    wasm_v128_store(out + i, r);
  }
  for (; i < size; i++) {
    float r = 1.0f;
    for (int p = 0; p < n; p++) r *= x[i];
    out[i] = r;
  }
}

/// out[j] = sum over i of x[i * width + j]: a sum over leading axes, which tfjs-wasm computes by
/// transposing first.
void sum_rows_f32(const float *x, int rows, int width, float *out) {
  int w4 = width & ~3;
  for (int j = 0; j < width; j++) out[j] = 0.0f;
  for (int i = 0; i < rows; i++) {
    const float *row = x + i * width;
    int j = 0;
    for (; j < w4; j += 4) {
      wasm_v128_store(out + j, wasm_f32x4_add(wasm_v128_load(out + j), wasm_v128_load(row + j)));
    }
    for (; j < width; j++) out[j] += row[j];
  }
}

/// AdamW's update of one tensor: the gradient scaled by `scale` (global-norm clipping), the moments
/// m and v updated in place, and out = p * keep - step_size * m / (sqrt(v * v_scale) + eps), where
/// keep = 1 - lr * weight_decay, step_size = lr / (1 - b1^t) and v_scale = 1 / (1 - b2^t).
void adamw_f32(const float *p, const float *g, float *m, float *v, float *out, int size,
               float scale, float b1, float b2, float keep, float step_size, float v_scale,
               float eps) {
  const v128_t vscale = wasm_f32x4_splat(scale), vb1 = wasm_f32x4_splat(b1);
  const v128_t vb1c = wasm_f32x4_splat(1.0f - b1), vb2 = wasm_f32x4_splat(b2);
  const v128_t vb2c = wasm_f32x4_splat(1.0f - b2), vkeep = wasm_f32x4_splat(keep);
  const v128_t vstep = wasm_f32x4_splat(step_size), vvs = wasm_f32x4_splat(v_scale);
  const v128_t veps = wasm_f32x4_splat(eps);
  int i = 0;
  for (; i + 4 <= size; i += 4) {
    v128_t gi = wasm_f32x4_mul(wasm_v128_load(g + i), vscale);
    v128_t mi = wasm_f32x4_add(wasm_f32x4_mul(vb1, wasm_v128_load(m + i)), wasm_f32x4_mul(vb1c, gi));
    v128_t vi = wasm_f32x4_add(wasm_f32x4_mul(vb2, wasm_v128_load(v + i)),
                               wasm_f32x4_mul(vb2c, wasm_f32x4_mul(gi, gi)));
    wasm_v128_store(m + i, mi);
    wasm_v128_store(v + i, vi);
    v128_t denom = wasm_f32x4_add(wasm_f32x4_sqrt(wasm_f32x4_mul(vi, vvs)), veps);
    v128_t update = wasm_f32x4_div(wasm_f32x4_mul(vstep, mi), denom);
    wasm_v128_store(out + i, wasm_f32x4_sub(wasm_f32x4_mul(wasm_v128_load(p + i), vkeep), update));
  }
  for (; i < size; i++) {
    float gi = g[i] * scale;
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    out[i] = p[i] * keep - step_size * mi / (__builtin_sqrtf(vi * v_scale) + eps);
  }
}

/// The sum of x[i]^2: float lanes over blocks of 1024 elements, the blocks summed in double.
double sum_squares_f32(const float *x, int size) {
  double total = 0.0;
  int i = 0;
  while (i + 4 <= size) {
    int end = i + 1024 <= size ? i + 1024 : size & ~3;
    v128_t acc = wasm_f32x4_splat(0.0f);
    for (; i < end; i += 4) {
      v128_t xi = wasm_v128_load(x + i);
      acc = wasm_f32x4_add(acc, wasm_f32x4_mul(xi, xi));
    }
    total += (double)wasm_f32x4_extract_lane(acc, 0) + (double)wasm_f32x4_extract_lane(acc, 1) +
             (double)wasm_f32x4_extract_lane(acc, 2) + (double)wasm_f32x4_extract_lane(acc, 3);
  }
  for (; i < size; i++) total += (double)x[i] * (double)x[i];
  return total;
}
