// layernorm.wgsl: Y = (X - mean) / sqrt(var + 1e-5) * gamma + beta over the last axis of
// X[rows, cols]. Entry `main`: one workgroup per row; mean and variance are two workgroup
// tree reductions in f32 (two-pass variance, no cancellation). Entry `rows`: several rows per
// workgroup (tunable, at the end). Rows beyond 65535 tile over y.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  rows: u32,
  cols: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> gamma: array<T>;
@group(0) @binding(2) var<storage, read> beta: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

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
  let n = f32(p.cols);

  var s1 = 0.0;
  for (var i = lid; i < p.cols; i += WG) {
    s1 += f32(x[base + i]);
  }
  let mean = workgroup_sum(lid, s1) / n;

  var s2 = 0.0;
  for (var i = lid; i < p.cols; i += WG) {
    let d = f32(x[base + i]) - mean;
    s2 += d * d;
  }
  let inv_std = 1.0 / sqrt(workgroup_sum(lid, s2) / n + EPS);

  for (var i = lid; i < p.cols; i += WG) {
    let v = (f32(x[base + i]) - mean) * inv_std;
    y[base + i] = T(v * f32(gamma[i]) + f32(beta[i]));
  }
}

// -- rows: the tunable entry point --------------------------------------------------------
// R_RPW rows per workgroup, R_TX invocations per row (workgroup size R_TX x R_RPW); each
// row's sums are tree reductions over its R_TX invocations. The plan rewrites the
// `// @knob` lines (same line); rows past the end compute nothing but keep every barrier.
const R_TX: u32 = 16u;   // @knob invocations per row (a power of two)
const R_RPW: u32 = 4u;   // @knob rows per workgroup

var<workgroup> rred: array<f32, R_TX * R_RPW>;

fn row_sum(o: u32, lx: u32, v: f32) -> f32 {
  rred[o + lx] = v;
  workgroupBarrier();
  for (var s = R_TX / 2u; s > 0u; s >>= 1u) {
    if (lx < s) {
      rred[o + lx] += rred[o + lx + s];
    }
    workgroupBarrier();
  }
  let total = rred[o];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(R_TX, R_RPW, 1)
fn rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.y * nwg.x + wid.x) * R_RPW + lid.y;
  let live = row < p.rows;
  let base = row * p.cols;
  let o = lid.y * R_TX;
  let n = f32(p.cols);

  var s1 = 0.0;
  if (live) {
    for (var i = lid.x; i < p.cols; i += R_TX) {
      s1 += f32(x[base + i]);
    }
  }
  let mean = row_sum(o, lid.x, s1) / n;

  var s2 = 0.0;
  if (live) {
    for (var i = lid.x; i < p.cols; i += R_TX) {
      let d = f32(x[base + i]) - mean;
      s2 += d * d;
    }
  }
  let inv_std = 1.0 / sqrt(row_sum(o, lid.x, s2) / n + EPS);

  if (live) {
    for (var i = lid.x; i < p.cols; i += R_TX) {
      let v = (f32(x[base + i]) - mean) * inv_std;
      y[base + i] = T(v * f32(gamma[i]) + f32(beta[i]));
    }
  }
}
