// add_mul_relu.wgsl: Y = relu((A + B) * C), one invocation per element (tiled over y when the
// element count needs more than 65535 workgroups).
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  n: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read> c: array<T>;
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
  // Same rounding as numpy in T: the sum and the product are each rounded to T.
  let s = a[i] + b[i];
  y[i] = max(s * c[i], T(0.0));
}
