// conv2d.wgsl: Y[N, F, OH, OW] = conv2d(X[N, C, H, W], W[F, C, k, k]) with stride and zero
// padding (NCHW, cross-correlation as in every ML framework). One invocation per output
// element, accumulating in f32 over C x k x k; the dispatch tiles over y beyond 65535 groups.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  n: u32,
  c: u32,
  h: u32,
  w: u32,
  f: u32,
  k: u32,
  stride: u32,
  pad: u32,
  oh: u32,
  ow: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> wt: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * nwg.x + wid.x) * WG + lid;
  if (idx >= p.n * p.f * p.oh * p.ow) {
    return;
  }
  let ox = idx % p.ow;
  var t = idx / p.ow;
  let oy = t % p.oh;
  t = t / p.oh;
  let f = t % p.f;
  let n = t / p.f;
  let y0 = i32(oy * p.stride) - i32(p.pad);
  let x0 = i32(ox * p.stride) - i32(p.pad);
  var acc = 0.0;
  for (var c = 0u; c < p.c; c++) {
    let xc = (n * p.c + c) * p.h;
    let wc = (f * p.c + c) * p.k;
    for (var ki = 0u; ki < p.k; ki++) {
      let iy = y0 + i32(ki);
      if (iy < 0 || iy >= i32(p.h)) {
        continue;
      }
      let xrow = (xc + u32(iy)) * p.w;
      let wrow = (wc + ki) * p.k;
      for (var kj = 0u; kj < p.k; kj++) {
        let ix = x0 + i32(kj);
        if (ix < 0 || ix >= i32(p.w)) {
          continue;
        }
        acc += f32(x[xrow + u32(ix)]) * f32(wt[wrow + kj]);
      }
    }
  }
  y[idx] = T(acc);
}
