// softmax.wgsl: Y = softmax(X) over the last axis of X[rows, cols], numerically stable
// (the row maximum is subtracted before exp). One workgroup per row; the row max and the sum
// of exponentials are workgroup tree reductions in f32. Rows beyond 65535 tile over y.
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
