// matmul_int8.wgsl: C = (A @ B accumulated in i32) * scale_a[:, None] * scale_b[None, :] for
// int8 A[M, K] and B[K, N] packed four to a u32 (little-endian). Three entry points:
//   unpack  A and B in their own row-major layout; each int8 is unpacked with extractBits
//           (sign-extending); one invocation per output, WG_X x WG_Y per workgroup;
//   dot4    A as [M, K4 / 4] words and B pre-transposed to [N, K4 / 4] words (K4 = K rounded up
//           to 4, zero-padded), four products per dot4I8Packed (WGSL language feature
//           packed_4x8_integer_dot_product);
//   gemm    the tunable entry point (variant gemm, last section): dot4's layout, a register
//           block of Q_TM x Q_TN outputs per invocation, words unpacked with extractBits.
// The scaling is in f32 ((acc * sa) * sb, the reference's order); the result is stored as T.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  M: u32,
  N: u32,
  K: u32,
  kw: u32,  // words per packed row in the dot4 layout (K4 / 4)
}

@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read> b: array<u32>;
@group(0) @binding(2) var<storage, read> scale_a: array<T>;
@group(0) @binding(3) var<storage, read> scale_b: array<T>;
@group(0) @binding(4) var<storage, read_write> c: array<T>;
@group(0) @binding(5) var<uniform> p: Params;

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

fn a8(e: u32) -> i32 {
  return extractBits(bitcast<i32>(a[e >> 2u]), (e & 3u) * 8u, 8u);
}

fn b8(e: u32) -> i32 {
  return extractBits(bitcast<i32>(b[e >> 2u]), (e & 3u) * 8u, 8u);
}

fn store(row: u32, col: u32, acc: i32) {
  let v = (f32(acc) * f32(scale_a[row])) * f32(scale_b[col]);
  c[row * p.N + col] = T(v);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn unpack(@builtin(global_invocation_id) g: vec3<u32>) {
  let col = g.x;
  let row = g.y;
  if (row >= p.M || col >= p.N) {
    return;
  }
  var acc = 0i;
  for (var k = 0u; k < p.K; k++) {
    acc += a8(row * p.K + k) * b8(k * p.N + col);
  }
  store(row, col, acc);
}

// @begin dot4: kept only in the dot4 variant (blanked lines keep line numbers)
@compute @workgroup_size(WG_X, WG_Y, 1)
fn dot4(@builtin(global_invocation_id) g: vec3<u32>) {
  let col = g.x;
  let row = g.y;
  if (row >= p.M || col >= p.N) {
    return;
  }
  var acc = 0i;
  for (var w = 0u; w < p.kw; w++) {
    acc += dot4I8Packed(a[row * p.kw + w], b[col * p.kw + w]);
  }
  store(row, col, acc);
}
// @end dot4

// -- gemm: the tunable entry point -------------------------------------------------------------
// A as [M, kw] and B as [N, kw] words, as for dot4, but no language feature needed: each word is
// unpacked once into a vec4<i32> and reused by every output of the invocation's block, which is
// held in named variables c{i}_{j} (rows row .. row + Q_TM - 1, columns col .. col + Q_TN - 1).
// A line `// @unroll i<Q_TM j<Q_TN: CODE` is a comment here; the plan writes CODE out once per
// index value on that line. Reads past M or N are clamped to the last row or column and their
// results dropped. The plan rewrites the `// @knob` lines (same line).
const Q_WX: u32 = 8u;   // @knob invocations per workgroup along N
const Q_WY: u32 = 8u;   // @knob invocations per workgroup along M
const Q_TM: u32 = 4u;   // @knob rows of C per invocation
const Q_TN: u32 = 4u;   // @knob columns of C per invocation

fn q_unpack(w: u32) -> vec4<i32> {
  let s = bitcast<i32>(w);
  return vec4<i32>(extractBits(s, 0u, 8u), extractBits(s, 8u, 8u), extractBits(s, 16u, 8u),
                   extractBits(s, 24u, 8u));
}

@compute @workgroup_size(Q_WX, Q_WY, 1)
fn gemm(@builtin(global_invocation_id) g: vec3<u32>) {
  let row = g.y * Q_TM;
  let col = g.x * Q_TN;
  // @unroll i<Q_TM: let ar{i} = min(row + {i}u, p.M - 1u) * p.kw;
  // @unroll j<Q_TN: let bc{j} = min(col + {j}u, p.N - 1u) * p.kw;
  // @unroll i<Q_TM j<Q_TN: var c{i}_{j} = 0i;
  for (var w = 0u; w < p.kw; w++) {
    // @unroll i<Q_TM: let ta{i} = q_unpack(a[ar{i} + w]);
    // @unroll j<Q_TN: let tb{j} = q_unpack(b[bc{j} + w]);
    // @unroll i<Q_TM j<Q_TN: c{i}_{j} += dot(ta{i}, tb{j});
  }
  // @unroll i<Q_TM j<Q_TN: if (row + {i}u < p.M && col + {j}u < p.N) { store(row + {i}u, col + {j}u, c{i}_{j}); }
}
