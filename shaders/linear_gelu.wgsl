// linear_gelu.wgsl: Y = GELU(X @ W + bias), fused; X is [M, K], W is [K, N], bias is [N].
// GELU is the exact erf form, x * Phi(x) = 0.5 * x * erfc(-x / sqrt(2)); WGSL has no erf, so
// erfc is the Chebyshev fit of Numerical Recipes (erfcc, relative error < 1.2e-7 everywhere).
// Entry points as in matmul.wgsl: naive (WG_X x WG_Y) and tiled (TILE x TILE, workgroup memory).
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  M: u32,
  N: u32,
  K: u32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> w: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
override TILE: u32 = 16u;

var<workgroup> tile_x: array<f32, TILE * TILE>;
var<workgroup> tile_w: array<f32, TILE * TILE>;

fn erfc_(z: f32) -> f32 {
  let az = abs(z);
  let t = 1.0 / (1.0 + 0.5 * az);
  let r = t * exp(-az * az - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
          t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
          t * (-0.82215223 + t * 0.17087277)))))))));
  return select(2.0 - r, r, z >= 0.0);
}

fn gelu(v: f32) -> f32 {
  return 0.5 * v * erfc_(-v * 0.70710678118654752);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn naive(@builtin(global_invocation_id) g: vec3<u32>) {
  let col = g.x;
  let row = g.y;
  if (row >= p.M || col >= p.N) {
    return;
  }
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc += f32(x[row * p.K + k]) * f32(w[k * p.N + col]);
  }
  y[row * p.N + col] = T(gelu(acc + f32(bias[col])));
}

@compute @workgroup_size(TILE, TILE, 1)
fn tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y * TILE + lid.y;
  let col = wid.x * TILE + lid.x;
  let tiles = (p.K + TILE - 1u) / TILE;
  var acc = 0.0;
  for (var t = 0u; t < tiles; t++) {
    let kx = t * TILE + lid.x;
    var vx = 0.0;
    if (row < p.M && kx < p.K) {
      vx = f32(x[row * p.K + kx]);
    }
    tile_x[lid.y * TILE + lid.x] = vx;
    let kw = t * TILE + lid.y;
    var vw = 0.0;
    if (kw < p.K && col < p.N) {
      vw = f32(w[kw * p.N + col]);
    }
    tile_w[lid.y * TILE + lid.x] = vw;
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      acc += tile_x[lid.y * TILE + k] * tile_w[k * TILE + lid.x];
    }
    workgroupBarrier();
  }
  if (row < p.M && col < p.N) {
    y[row * p.N + col] = T(gelu(acc + f32(bias[col])));
  }
}
