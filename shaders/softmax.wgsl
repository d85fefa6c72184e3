// softmax.wgsl: Y = softmax(X) over the last axis of X[rows, cols], numerically stable
// (the row maximum is subtracted before exp). Entry `main`: one workgroup per row; the row
// max and the sum of exponentials are workgroup tree reductions in f32. Entry `rows`: several
// rows per workgroup (tunable, at the end). Rows beyond 65535 tile over y.
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
const LOWEST: f32 = -3.4028234663852886e38;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) {
    return;  // the whole workgroup leaves: control flow stays uniform
  }
  let base = row * p.cols;

  var m = LOWEST;
  for (var i = lid; i < p.cols; i += WG) {
    m = max(m, f32(x[base + i]));
  }
  red[lid] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  let row_max = red[0];
  workgroupBarrier();

  var acc = 0.0;
  for (var i = lid; i < p.cols; i += WG) {
    acc += exp(f32(x[base + i]) - row_max);
  }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] += red[lid + s];
    }
    workgroupBarrier();
  }
  let inv = 1.0 / red[0];

  for (var i = lid; i < p.cols; i += WG) {
    y[base + i] = T(exp(f32(x[base + i]) - row_max) * inv);
  }
}

// -- rows: the tunable entry point --------------------------------------------------------
// R_RPW rows per workgroup, R_TX invocations per row (workgroup size R_TX x R_RPW); each
// row's max and sum are tree reductions over its R_TX invocations. The plan rewrites the
// `// @knob` lines (same line); rows past the end compute nothing but keep every barrier.
const R_TX: u32 = 16u;   // @knob invocations per row (a power of two)
const R_RPW: u32 = 4u;   // @knob rows per workgroup

var<workgroup> rred: array<f32, R_TX * R_RPW>;

fn row_reduce(o: u32, lx: u32, v: f32, is_max: bool) -> f32 {
  rred[o + lx] = v;
  workgroupBarrier();
  for (var s = R_TX / 2u; s > 0u; s >>= 1u) {
    if (lx < s) {
      if (is_max) {
        rred[o + lx] = max(rred[o + lx], rred[o + lx + s]);
      } else {
        rred[o + lx] += rred[o + lx + s];
      }
    }
    workgroupBarrier();
  }
  let r = rred[o];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(R_TX, R_RPW, 1)
fn rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.y * nwg.x + wid.x) * R_RPW + lid.y;
  let live = row < p.rows;
  let base = row * p.cols;
  let o = lid.y * R_TX;

  var m = LOWEST;
  if (live) {
    for (var i = lid.x; i < p.cols; i += R_TX) {
      m = max(m, f32(x[base + i]));
    }
  }
  let row_max = row_reduce(o, lid.x, m, true);

  var acc = 0.0;
  if (live) {
    for (var i = lid.x; i < p.cols; i += R_TX) {
      acc += exp(f32(x[base + i]) - row_max);
    }
  }
  let inv = 1.0 / row_reduce(o, lid.x, acc, false);

  if (live) {
    for (var i = lid.x; i < p.cols; i += R_TX) {
      y[base + i] = T(exp(f32(x[base + i]) - row_max) * inv);
    }
  }
}
