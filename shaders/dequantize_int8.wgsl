// dequantize_int8.wgsl: X = Q * scale[:, None] for int8 Q[rows, cols] packed four to a u32
// (little-endian) and per-row scales. One invocation per output element; extractBits on an
// i32 sign-extends the byte. The dispatch tiles over y beyond 65535 workgroups.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  rows: u32,
  cols: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<storage, read> q: array<u32>;
@group(0) @binding(1) var<storage, read> scale: array<T>;
@group(0) @binding(2) var<storage, read_write> x: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * nwg.x + wid.x) * WG + lid;
  if (e >= p.rows * p.cols) {
    return;
  }
  let qv = extractBits(bitcast<i32>(q[e >> 2u]), (e & 3u) * 8u, 8u);
  x[e] = T(f32(qv) * f32(scale[e / p.cols]));
}
