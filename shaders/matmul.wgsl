// matmul.wgsl: C[b] = A[b] @ B[b] for b < batch (batch = 1 for matmul, B for batched_matmul).
// A is [M, K], B is [K, N], C is [M, N], all row-major, one batch after the other.
// Four entry points, picked by the plan's variant:
//   naive    one invocation per output, WG_X x WG_Y invocations per workgroup;
//   tiled    TILE x TILE outputs per workgroup, A and B staged through workgroup memory;
//   blocked  register blocking: TILE x TILE invocations each compute RT x RT outputs
//            (a (TILE*RT) x (TILE*RT) block of C), A and B staged TILE columns/rows at a time;
//   gemm     every knob a tuning parameter (workgroup shape, register block, K-tile depth,
//            workgroup-memory staging, vec4 column groups): see the section after blocked;
//            gemm4 is its vec4 form, gemmu and gemmus its unrolled forms (the last section).
// Values are stored as T (f32 or f16) and accumulated in f32.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
}

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> c: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
override TILE: u32 = 16u;

const RT: u32 = 4u;  // outputs per invocation along each axis in `blocked`

var<workgroup> tile_a: array<f32, TILE * TILE>;
var<workgroup> tile_b: array<f32, TILE * TILE>;
var<workgroup> blk_a: array<f32, TILE * TILE * RT>;
var<workgroup> blk_b: array<f32, TILE * TILE * RT>;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn naive(@builtin(global_invocation_id) g: vec3<u32>) {
  let col = g.x;
  let row = g.y;
  let bat = g.z;
  if (row >= p.M || col >= p.N || bat >= p.batch) {
    return;
  }
  let a0 = bat * p.M * p.K + row * p.K;
  let b0 = bat * p.K * p.N + col;
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc += f32(a[a0 + k]) * f32(b[b0 + k * p.N]);
  }
  c[bat * p.M * p.N + row * p.N + col] = T(acc);
}

@compute @workgroup_size(TILE, TILE, 1)
fn tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y * TILE + lid.y;
  let col = wid.x * TILE + lid.x;
  let bat = wid.z;
  let a0 = bat * p.M * p.K;
  let b0 = bat * p.K * p.N;
  let tiles = (p.K + TILE - 1u) / TILE;
  var acc = 0.0;
  for (var t = 0u; t < tiles; t++) {
    let ka = t * TILE + lid.x;
    var va = 0.0;
    if (row < p.M && ka < p.K) {
      va = f32(a[a0 + row * p.K + ka]);
    }
    tile_a[lid.y * TILE + lid.x] = va;
    let kb = t * TILE + lid.y;
    var vb = 0.0;
    if (kb < p.K && col < p.N) {
      vb = f32(b[b0 + kb * p.N + col]);
    }
    tile_b[lid.y * TILE + lid.x] = vb;
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      acc += tile_a[lid.y * TILE + k] * tile_b[k * TILE + lid.x];
    }
    workgroupBarrier();
  }
  if (row < p.M && col < p.N) {
    c[bat * p.M * p.N + row * p.N + col] = T(acc);
  }
}

@compute @workgroup_size(TILE, TILE, 1)
fn blocked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let span = TILE * RT;              // rows (and columns) of C per workgroup
  let row0 = wid.y * span;
  let col0 = wid.x * span;
  let bat = wid.z;
  let a0 = bat * p.M * p.K;
  let b0 = bat * p.K * p.N;
  let tiles = (p.K + TILE - 1u) / TILE;
  var acc: array<f32, 16>;           // RT * RT, row-major
  var av: array<f32, 4>;
  var bv: array<f32, 4>;
  for (var t = 0u; t < tiles; t++) {
    // blk_a is span x TILE (rows of A), blk_b is TILE x span (rows of B).
    for (var i = li; i < span * TILE; i += TILE * TILE) {
      let r = row0 + i / TILE;
      let k = t * TILE + i % TILE;
      var va = 0.0;
      if (r < p.M && k < p.K) {
        va = f32(a[a0 + r * p.K + k]);
      }
      blk_a[i] = va;
      let kb = t * TILE + i / span;
      let col = col0 + i % span;
      var vb = 0.0;
      if (kb < p.K && col < p.N) {
        vb = f32(b[b0 + kb * p.N + col]);
      }
      blk_b[i] = vb;
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      for (var i = 0u; i < RT; i++) {
        av[i] = blk_a[(lid.y + i * TILE) * TILE + k];
        bv[i] = blk_b[k * span + lid.x + i * TILE];
      }
      for (var i = 0u; i < RT; i++) {
        for (var j = 0u; j < RT; j++) {
          acc[i * RT + j] += av[i] * bv[j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < RT; i++) {
    let r = row0 + lid.y + i * TILE;
    for (var j = 0u; j < RT; j++) {
      let col = col0 + lid.x + j * TILE;
      if (r < p.M && col < p.N) {
        c[bat * p.M * p.N + r * p.N + col] = T(acc[i * RT + j]);
      }
    }
  }
}

// -- gemm: the tunable entry point ------------------------------------------------------------
// The plan rewrites the `// @knob` lines below (same line, so compiler lines stay the file's);
// the values written here are the defaults of the raw file. Each invocation computes a
// G_TM x G_TN block of C: rows ty + i * G_WY (i < G_TM) and columns in groups of G_VW
// consecutive ones, group j of invocation tx at column (j * G_WX + tx) * G_VW of the
// workgroup's G_BN columns. K advances G_TK at a time; with G_SHARED the workgroup first
// stages a G_BM x G_TK block of A and a G_TK x G_BN block of B in workgroup memory.
const G_WX: u32 = 16u;     // @knob invocations per workgroup along N
const G_WY: u32 = 16u;     // @knob invocations per workgroup along M
const G_TM: u32 = 4u;     // @knob rows of C per invocation (register blocking)
const G_TN: u32 = 8u;     // @knob columns of C per invocation (a multiple of G_VW)
const G_TK: u32 = 16u;     // @knob K-tile depth
const G_SHARED: bool = true;  // @knob stage A and B tiles in workgroup memory
const G_VW: u32 = 4u;     // @knob 4: columns of B and C moved as vec4 groups; 1: scalars
const G_BM: u32 = G_WY * G_TM;
const G_BN: u32 = G_WX * G_TN;
const G_NG: u32 = G_TN / G_VW;   // column groups per invocation

var<workgroup> g_a: array<f32, G_BM * G_TK>;              // [k][row]
var<workgroup> g_b: array<vec4<f32>, G_TK * G_BN / 4u>;   // [k][column / 4]; G_BN % 4 == 0

fn g_load_b4(i: u32, col: u32) -> vec4<f32> {
  // four consecutive columns of B from flat index i (column col), zero past N
  var v = vec4<f32>(0.0);
  if (col + 3u < p.N) {
    v = vec4<f32>(f32(b[i]), f32(b[i + 1u]), f32(b[i + 2u]), f32(b[i + 3u]));
  } else {
    for (var e = 0u; e < 4u; e++) {
      if (col + e < p.N) {
        v[e] = f32(b[i + e]);
      }
    }
  }
  return v;
}

@compute @workgroup_size(G_WX, G_WY, 1)
fn gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wid.y * G_BM;
  let col0 = wid.x * G_BN;
  let bat = wid.z;
  let a0 = bat * p.M * p.K;
  let b0 = bat * p.K * p.N;
  var acc: array<f32, G_TM * G_TN>;  // row-major
  var av: array<f32, G_TM>;
  var bv: array<f32, G_TN>;
  let tiles = (p.K + G_TK - 1u) / G_TK;
  for (var t = 0u; t < tiles; t++) {
    let k0 = t * G_TK;
    if (G_SHARED) {
      for (var i = li; i < G_BM * G_TK; i += G_WX * G_WY) {
        let r = i / G_TK;
        let kk = i % G_TK;
        var va = 0.0;
        if (row0 + r < p.M && k0 + kk < p.K) {
          va = f32(a[a0 + (row0 + r) * p.K + k0 + kk]);
        }
        g_a[kk * G_BM + r] = va;
      }
      for (var i = li; i < G_TK * G_BN / 4u; i += G_WX * G_WY) {
        let kk = i / (G_BN / 4u);
        let c4 = i % (G_BN / 4u);
        var vb = vec4<f32>(0.0);
        if (k0 + kk < p.K) {
          vb = g_load_b4(b0 + (k0 + kk) * p.N + col0 + c4 * 4u, col0 + c4 * 4u);
        }
        g_b[i] = vb;
      }
      workgroupBarrier();
    }
    for (var kk = 0u; kk < G_TK; kk++) {
      let k = k0 + kk;
      for (var i = 0u; i < G_TM; i++) {
        let r = lid.y + i * G_WY;
        if (G_SHARED) {
          av[i] = g_a[kk * G_BM + r];
        } else {
          var va = 0.0;
          if (row0 + r < p.M && k < p.K) {
            va = f32(a[a0 + (row0 + r) * p.K + k]);
          }
          av[i] = va;
        }
      }
      for (var j = 0u; j < G_NG; j++) {
        let cc = (j * G_WX + lid.x) * G_VW;
        if (G_VW == 4u) {
          var v = vec4<f32>(0.0);
          if (G_SHARED) {
            v = g_b[kk * (G_BN / 4u) + cc / 4u];
          } else if (k < p.K) {
            v = g_load_b4(b0 + k * p.N + col0 + cc, col0 + cc);
          }
          bv[j * 4u] = v.x;
          bv[j * 4u + 1u] = v.y;
          bv[j * 4u + 2u] = v.z;
          bv[j * 4u + 3u] = v.w;
        } else {
          var v = 0.0;
          if (G_SHARED) {
            v = g_b[kk * (G_BN / 4u) + cc / 4u][cc % 4u];
          } else if (k < p.K && col0 + cc < p.N) {
            v = f32(b[b0 + k * p.N + col0 + cc]);
          }
          bv[j] = v;
        }
      }
      for (var i = 0u; i < G_TM; i++) {
        for (var j = 0u; j < G_TN; j++) {
          acc[i * G_TN + j] += av[i] * bv[j];
        }
      }
    }
    if (G_SHARED) {
      workgroupBarrier();
    }
  }
  let cbase = bat * p.M * p.N;
  for (var i = 0u; i < G_TM; i++) {
    let r = row0 + lid.y + i * G_WY;
    if (r >= p.M) {
      continue;
    }
    for (var j = 0u; j < G_TN; j++) {
      let col = col0 + ((j / G_VW) * G_WX + lid.x) * G_VW + j % G_VW;
      if (col < p.N) {
        c[cbase + r * p.N + col] = T(acc[i * G_TN + j]);
      }
    }
  }
}

// -- gemm4: gemm with true vec4 loads of A and B and stores of C (N % 4 == 0, K % 4 == 0) ------
// The same knobs and tiling as gemm with G_VW = 4, but A, B and C are read and written
// through vec4 views of their buffers (a4, b4 and c4 alias bindings 0-2; no entry point uses
// both views of one buffer). The plan picks it for vec4 points when N and K are multiples
// of 4 (and G_TK is, which every point's is).
@group(0) @binding(0) var<storage, read> a4: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> c4: array<vec4<T>>;
const G_N4: u32 = max(G_TN / 4u, 1u);  // vec4 columns per invocation (array sizes >= 1)

@compute @workgroup_size(G_WX, G_WY, 1)
fn gemm4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
  let row0 = wid.y * G_BM;
  let col0 = wid.x * G_BN;
  let bat = wid.z;
  let k4 = p.K / 4u;
  let a0 = bat * p.M * k4;
  let n4 = p.N / 4u;
  let b0 = bat * p.K * n4;
  var acc: array<vec4<f32>, G_TM * G_N4>;
  var av: array<f32, G_TM>;
  var bv: array<vec4<f32>, G_N4>;
  let tiles = (p.K + G_TK - 1u) / G_TK;
  for (var t = 0u; t < tiles; t++) {
    let k0 = t * G_TK;
    if (G_SHARED) {
      for (var i = li; i < G_BM * G_TK / 4u; i += G_WX * G_WY) {
        let r = i / (G_TK / 4u);
        let kq = (i % (G_TK / 4u)) * 4u;
        var va = vec4<f32>(0.0);
        if (row0 + r < p.M && k0 + kq < p.K) {
          va = vec4<f32>(a4[a0 + (row0 + r) * k4 + (k0 + kq) / 4u]);
        }
        g_a[kq * G_BM + r] = va.x;
        g_a[(kq + 1u) * G_BM + r] = va.y;
        g_a[(kq + 2u) * G_BM + r] = va.z;
        g_a[(kq + 3u) * G_BM + r] = va.w;
      }
      for (var i = li; i < G_TK * G_BN / 4u; i += G_WX * G_WY) {
        let kk = i / (G_BN / 4u);
        let col = col0 + (i % (G_BN / 4u)) * 4u;
        var vb = vec4<f32>(0.0);
        if (k0 + kk < p.K && col < p.N) {
          vb = vec4<f32>(b4[b0 + (k0 + kk) * n4 + col / 4u]);
        }
        g_b[i] = vb;
      }
      workgroupBarrier();
    }
    for (var kk = 0u; kk < G_TK; kk++) {
      let k = k0 + kk;
      for (var i = 0u; i < G_TM; i++) {
        let r = lid.y + i * G_WY;
        if (G_SHARED) {
          av[i] = g_a[kk * G_BM + r];
        } else {
          var va = 0.0;
          if (row0 + r < p.M && k < p.K) {
            va = f32(a4[a0 + (row0 + r) * k4 + k / 4u][k % 4u]);
          }
          av[i] = va;
        }
      }
      for (var j = 0u; j < G_TN / 4u; j++) {
        let cc = (j * G_WX + lid.x) * 4u;
        if (G_SHARED) {
          bv[j] = g_b[kk * (G_BN / 4u) + cc / 4u];
        } else {
          var v = vec4<f32>(0.0);
          if (k < p.K && col0 + cc < p.N) {
            v = vec4<f32>(b4[b0 + k * n4 + (col0 + cc) / 4u]);
          }
          bv[j] = v;
        }
      }
      for (var i = 0u; i < G_TM; i++) {
        for (var j = 0u; j < G_TN / 4u; j++) {
          acc[i * G_N4 + j] += av[i] * bv[j];
        }
      }
    }
    if (G_SHARED) {
      workgroupBarrier();
    }
  }
  let cbase = bat * p.M * n4;
  for (var i = 0u; i < G_TM; i++) {
    let r = row0 + lid.y + i * G_WY;
    if (r >= p.M) {
      continue;
    }
    for (var j = 0u; j < G_TN / 4u; j++) {
      let col = col0 + (j * G_WX + lid.x) * 4u;
      if (col < p.N) {
        c4[cbase + r * n4 + col / 4u] = vec4<T>(acc[i * G_N4 + j]);
      }
    }
  }
}

// -- gemmu, gemmus: gemm4 with the register block written out --------------------------------
// Same knobs and vec4 views as gemm4 (N % 4 == 0, K % 4 == 0), but each invocation's
// G_TM x G_TN block of C is held in named vec4 variables c{i}_{j}, not in an array indexed
// by loop counters. Adapters that run invocations as the SIMD lanes of a CPU (SwiftShader,
// lavapipe) keep a private array in memory and turn each access with a loop-counter index
// into a per-lane gather or scatter; named variables stay in registers. A line
// `// @unroll i<G_TM j<G_N4: CODE` is a comment here; the plan writes CODE out once per
// index value, all on that line (so compiler line numbers hold), {i} replaced by the value.
// An invocation's rows are row .. row + G_TM - 1 and its vec4 columns col .. col + G_N4 - 1.
//   gemmu   no workgroup memory and no barrier: A and B are read straight from storage,
//           one vec4 of K per step (its points have tk 4: G_TK is unused);
//   gemmus  A (G_BM x G_TK) and B (G_TK x G_BN) staged in workgroup memory as vec4, one
//           barrier pair per K tile, as TF.js's and ORT Web's MatMulPacked do.
// Reads past M or N are clamped to the last row or column and their results dropped.
// With block `gelu` kept, C = GELU(A @ B + bias) with bias at binding 4 (linear_gelu).
const G_TK4: u32 = G_TK / 4u;   // vec4 steps of K per staged tile (gemmus)
var<workgroup> u_a: array<vec4<f32>, G_BM * G_TK / 4u>;        // [row][k / 4]
var<workgroup> u_b: array<vec4<f32>, G_TK * G_N4 * G_WX>;    // [k][column / 4]

// @begin gelu
@group(0) @binding(4) var<storage, read> g_bias4: array<vec4<T>>;
fn g_erfc4(z: vec4<f32>) -> vec4<f32> {
  // erfc of Numerical Recipes (erfcc), relative error < 1.2e-7, as in linear_gelu.wgsl
  let az = abs(z);
  let t = 1.0 / (1.0 + 0.5 * az);
  let r = t * exp(-az * az - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
          t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
          t * (-0.82215223 + t * 0.17087277)))))))));
  return select(2.0 - r, r, z >= vec4<f32>(0.0));
}
// @end gelu

fn g_out(v: vec4<f32>, col4: u32) -> vec4<T> {
  var x = v;
  // @begin gelu
  x = x + vec4<f32>(g_bias4[col4]);
  x = 0.5 * x * g_erfc4(-x * 0.70710678118654752);
  // @end gelu
  return vec4<T>(x);
}

@compute @workgroup_size(G_WX, G_WY, 1)
fn gemmu(@builtin(global_invocation_id) g: vec3<u32>) {
  let k4 = p.K / 4u;
  let n4 = p.N / 4u;
  let row = g.y * G_TM;
  let col = g.x * G_N4;
  let abase = g.z * p.M * k4;
  let bbase = g.z * p.K * n4;
  // @unroll i<G_TM: let ar{i} = abase + min(row + {i}u, p.M - 1u) * k4;
  // @unroll j<G_N4: let bc{j} = bbase + min(col + {j}u, n4 - 1u);
  // @unroll i<G_TM j<G_N4: var c{i}_{j} = vec4<f32>(0.0);
  for (var kq = 0u; kq < k4; kq++) {
    let bo = kq * 4u * n4;
    // @unroll r<4 j<G_N4: let tb{r}_{j} = vec4<f32>(b4[bc{j} + bo + {r}u * n4]);
    // @unroll i<G_TM: let ta{i} = vec4<f32>(a4[ar{i} + kq]);
    // @unroll i<G_TM j<G_N4: c{i}_{j} = fma(vec4<f32>(ta{i}.x), tb0_{j}, c{i}_{j}); c{i}_{j} = fma(vec4<f32>(ta{i}.y), tb1_{j}, c{i}_{j}); c{i}_{j} = fma(vec4<f32>(ta{i}.z), tb2_{j}, c{i}_{j}); c{i}_{j} = fma(vec4<f32>(ta{i}.w), tb3_{j}, c{i}_{j});
  }
  let cbase = g.z * p.M * n4;
  // @unroll i<G_TM j<G_N4: if (row + {i}u < p.M && col + {j}u < n4) { c4[cbase + (row + {i}u) * n4 + col + {j}u] = g_out(c{i}_{j}, col + {j}u); }
}

@compute @workgroup_size(G_WX, G_WY, 1)
fn gemmus(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let k4 = p.K / 4u;
  let n4 = p.N / 4u;
  let bn4 = G_WX * G_N4;
  let row0 = wid.y * G_BM;
  let col0 = wid.x * bn4;
  let row = row0 + lid.y * G_TM;
  let col = col0 + lid.x * G_N4;
  let abase = wid.z * p.M * k4;
  let bbase = wid.z * p.K * n4;
  // @unroll i<G_TM j<G_N4: var c{i}_{j} = vec4<f32>(0.0);
  let tiles = (k4 + G_TK4 - 1u) / G_TK4;
  for (var t = 0u; t < tiles; t++) {
    let kq0 = t * G_TK4;
    for (var i = li; i < G_BM * G_TK4; i += G_WX * G_WY) {
      let kq = kq0 + i % G_TK4;
      let ra = abase + min(row0 + i / G_TK4, p.M - 1u) * k4 + min(kq, k4 - 1u);
      u_a[i] = select(vec4<f32>(0.0), vec4<f32>(a4[ra]), kq < k4);
    }
    for (var i = li; i < G_TK * bn4; i += G_WX * G_WY) {
      let kk = kq0 * 4u + i / bn4;
      let rb = bbase + min(kk, p.K - 1u) * n4 + min(col0 + i % bn4, n4 - 1u);
      u_b[i] = select(vec4<f32>(0.0), vec4<f32>(b4[rb]), kk < p.K);
    }
    workgroupBarrier();
    for (var q = 0u; q < G_TK4; q++) {
      // @unroll r<4 j<G_N4: let tb{r}_{j} = u_b[(q * 4u + {r}u) * bn4 + lid.x * G_N4 + {j}u];
      // @unroll i<G_TM: let ta{i} = u_a[(lid.y * G_TM + {i}u) * G_TK4 + q];
      // @unroll i<G_TM j<G_N4: c{i}_{j} = fma(vec4<f32>(ta{i}.x), tb0_{j}, c{i}_{j}); c{i}_{j} = fma(vec4<f32>(ta{i}.y), tb1_{j}, c{i}_{j}); c{i}_{j} = fma(vec4<f32>(ta{i}.z), tb2_{j}, c{i}_{j}); c{i}_{j} = fma(vec4<f32>(ta{i}.w), tb3_{j}, c{i}_{j});
    }
    workgroupBarrier();
  }
  let cbase = wid.z * p.M * n4;
  // @unroll i<G_TM j<G_N4: if (row + {i}u < p.M && col + {j}u < n4) { c4[cbase + (row + {i}u) * n4 + col + {j}u] = g_out(c{i}_{j}, col + {j}u); }
}
