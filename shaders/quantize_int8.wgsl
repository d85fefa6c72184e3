// quantize_int8.wgsl: symmetric per-row int8 quantization of X[rows, cols], two passes:
//   scales  one workgroup per row: scale = max|x| / 127 (1 for an all-zero row), a workgroup
//           max reduction; rows beyond 65535 tile over y;
//   pack    one invocation per u32 of Q: four int8 values q = clamp(round(x / scale), -127, 127),
//           little-endian (byte j of word w is element 4w + j). WGSL round() is round-half-even,
//           like numpy.rint.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  rows: u32,
  cols: u32,
  words: u32,
  _p0: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> scale: array<T>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> q: array<u32>;

override WG: u32 = 256u;  // a power of two

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn scales(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) {
    return;
  }
  let base = row * p.cols;
  var m = 0.0;
  for (var i = lid; i < p.cols; i += WG) {
    m = max(m, abs(f32(x[base + i])));
  }
  red[lid] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let amax = red[0];
    scale[row] = T(select(1.0, amax / 127.0, amax > 0.0));
  }
}

@compute @workgroup_size(WG)
fn pack(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let wi = (wid.y * nwg.x + wid.x) * WG + lid;
  if (wi >= p.words) {
    return;
  }
  let total = p.rows * p.cols;
  var word = 0u;
  for (var j = 0u; j < 4u; j++) {
    let e = wi * 4u + j;
    if (e < total) {
      let s = scale[e / p.cols];
      let v = clamp(round(f32(x[e] / s)), -127.0, 127.0);
      word |= (bitcast<u32>(i32(v)) & 0xffu) << (8u * j);
    }
  }
  q[wi] = word;
}
