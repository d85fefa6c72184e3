// model_bias.wgsl: y = x + bias[col] + r[i % r_len], the bias of a projection with an
// optional residual (residual = 0 binds any buffer as r and ignores it; r_len < n repeats r
// over the batch, as a position table); x and y are [rows, cols], one invocation per element
// (tiled over y beyond 65535 workgroups). A plain sum is this with a zero bias.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  n: u32,
  cols: u32,
  residual: u32,
  r_len: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> bias: array<T>;
@group(0) @binding(2) var<storage, read> r: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) {
    return;
  }
  var v = f32(x[i]) + f32(bias[i % p.cols]);
  if (p.residual != 0u) {
    v += f32(r[i % p.r_len]);
  }
  y[i] = T(v);
}
