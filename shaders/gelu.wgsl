// gelu.wgsl: Y = x * Phi(x), the exact (erf) GELU, one invocation per element.
// WGSL has no erf: erfc is the Chebyshev fit of Numerical Recipes (erfcc), relative error
// < 1.2e-7 everywhere, so the tails (x << 0) keep their relative accuracy too.
// The dispatch may be tiled over y (more than 65535 workgroups): the element index is
// ((wid.y * nwg.x + wid.x) * WG + lid) and is bounds-checked.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  n: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256u;

fn erfc_(z: f32) -> f32 {
  let az = abs(z);
  let t = 1.0 / (1.0 + 0.5 * az);
  let r = t * exp(-az * az - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
          t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
          t * (-0.82215223 + t * 0.17087277)))))))));
  return select(2.0 - r, r, z >= 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) {
    return;
  }
  let v = f32(x[i]);
  y[i] = T(0.5 * v * erfc_(-v * 0.70710678118654752));
}
