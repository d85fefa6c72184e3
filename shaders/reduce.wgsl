// reduce.wgsl: Y = sum or max of X[rows, cols] over one axis (override OP: 0 sum, 1 max).
//   rows  (axis=1) one workgroup per row, workgroup tree reduction; rows beyond 65535 tile over y;
//   cols  (axis=0) one invocation per column, a loop down the rows (neighbouring invocations
//         read neighbouring addresses);
//   rowblock (axis=1, variant rows) the tunable entry point: R_RPW rows per workgroup, R_TX
//         invocations per row (last section).
// Sums accumulate in f32 whatever T is.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  rows: u32,
  cols: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256u;  // a power of two
override OP: u32 = 0u;    // 0 = sum, 1 = max
const LOWEST: f32 = -3.4028234663852886e38;

var<workgroup> red: array<f32, WG>;

fn combine(u: f32, v: f32) -> f32 {
  if (OP == 1u) {
    return max(u, v);
  }
  return u + v;
}

fn identity() -> f32 {
  if (OP == 1u) {
    return LOWEST;
  }
  return 0.0;
}

@compute @workgroup_size(WG)
fn rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) {
    return;
  }
  let base = row * p.cols;
  var acc = identity();
  for (var i = lid; i < p.cols; i += WG) {
    acc = combine(acc, f32(x[base + i]));
  }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = combine(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    y[row] = T(red[0]);
  }
}

@compute @workgroup_size(WG)
fn cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let col = (wid.y * nwg.x + wid.x) * WG + lid;
  if (col >= p.cols) {
    return;
  }
  var acc = identity();
  for (var r = 0u; r < p.rows; r++) {
    acc = combine(acc, f32(x[r * p.cols + col]));
  }
  y[col] = T(acc);
}

// -- rowblock: the tunable entry point ---------------------------------------------------------
// R_RPW rows per workgroup, R_TX invocations per row (workgroup size R_TX x R_RPW); each row is
// a strided loop per invocation, then a tree reduction over its R_TX invocations. The plan
// rewrites the `// @knob` lines (same line); rows past the end compute nothing but keep every
// barrier.
const R_TX: u32 = 16u;   // @knob invocations per row (a power of two)
const R_RPW: u32 = 4u;   // @knob rows per workgroup

var<workgroup> rred: array<f32, R_TX * R_RPW>;

@compute @workgroup_size(R_TX, R_RPW, 1)
fn rowblock(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.y * nwg.x + wid.x) * R_RPW + lid.y;
  let live = row < p.rows;
  let o = lid.y * R_TX;
  var acc = identity();
  if (live) {
    let base = row * p.cols;
    for (var i = lid.x; i < p.cols; i += R_TX) {
      acc = combine(acc, f32(x[base + i]));
    }
  }
  rred[o + lid.x] = acc;
  workgroupBarrier();
  for (var s = R_TX / 2u; s > 0u; s >>= 1u) {
    if (lid.x < s) {
      rred[o + lid.x] = combine(rred[o + lid.x], rred[o + lid.x + s]);
    }
    workgroupBarrier();
  }
  if (live && lid.x == 0u) {
    y[row] = T(rred[o]);
  }
}
