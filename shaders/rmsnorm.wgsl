// rmsnorm.wgsl: Y = X / sqrt(mean(X^2) + 1e-5) * gamma over the last axis of X[rows, cols].
// One workgroup per row; the mean of squares is a workgroup tree reduction in f32. Rows
// beyond 65535 tile over y.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  rows: u32,
  cols: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> gamma: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256u;  // a power of two
const EPS: f32 = 1e-5;

var<workgroup> red: array<f32, WG>;

fn workgroup_sum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] += red[lid + s];
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) {
    return;
  }
  let base = row * p.cols;

  var sq = 0.0;
  for (var i = lid; i < p.cols; i += WG) {
    let v = f32(x[base + i]);
    sq += v * v;
  }
  let inv_rms = 1.0 / sqrt(workgroup_sum(lid, sq) / f32(p.cols) + EPS);

  for (var i = lid; i < p.cols; i += WG) {
    y[base + i] = T(f32(x[base + i]) * inv_rms * f32(gamma[i]));
  }
}
