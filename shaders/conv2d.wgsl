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

// -- gemm: the convolution as an implicit GEMM, register-blocked and written out ----------------
// Per image n: Y[n] (F x OH*OW) = W (F x C*k*k) @ im2col(X[n]) (C*k*k x OH*OW), the im2col
// matrix never stored: each step of the K loop reads its patch values straight from X. K runs
// over (ki, kj) outside and over quads of four channels inside, so a quad shares one input
// position and one bounds check per pixel; needs C a multiple of 4 (the plan runs `main`
// otherwise). Each invocation holds a G_TM x G_TN block of Y (G_TM filters, G_TN consecutive
// pixels as G_N4 groups of four) in named vec4 variables c{i}_{j}: the `// @unroll` lines are
// written out by the plan (`unroll_lines`, same line), as in matmul.wgsl's gemmu. No
// workgroup memory and no barrier (on CPU adapters a barrier splits the workgroup into
// coroutines, see docs/tuning.md). The plan rewrites the `// @knob` lines.
const G_WX: u32 = 16u;  // @knob invocations per workgroup along the pixels
const G_WY: u32 = 1u;  // @knob invocations per workgroup along the filters
const G_TM: u32 = 4u;  // @knob filters per invocation (register blocking)
const G_TN: u32 = 4u;  // @knob pixels per invocation (a multiple of 4)

@compute @workgroup_size(G_WX, G_WY, 1)
fn gemm(@builtin(global_invocation_id) g: vec3<u32>) {
  let np = p.oh * p.ow;
  let hw = p.h * p.w;
  let kk = p.k * p.k;
  let ck = p.c * kk;
  let row = g.y * G_TM;
  let col = g.x * G_TN;
  let xb = g.z * p.c * hw;
  let lanes = vec4<u32>(0u, 1u, 2u, 3u);
  let pad = vec4<i32>(i32(p.pad));
  let hv = vec4<i32>(i32(p.h));
  let wv = vec4<i32>(i32(p.w));
  // @unroll j<G_N4: let q{j} = min(vec4<u32>(col + {j}u * 4u) + lanes, vec4<u32>(np - 1u));
  // @unroll j<G_N4: let iy{j} = vec4<i32>((q{j} / vec4<u32>(p.ow)) * p.stride) - pad;
  // @unroll j<G_N4: let ix{j} = vec4<i32>((q{j} % vec4<u32>(p.ow)) * p.stride) - pad;
  // @unroll i<G_TM: let wr{i} = min(row + {i}u, p.f - 1u) * ck;
  // @unroll i<G_TM j<G_N4: var c{i}_{j} = vec4<f32>(0.0);
  for (var ki = 0u; ki < p.k; ki++) {
    for (var kj = 0u; kj < p.k; kj++) {
      let wk = ki * p.k + kj;
      // @unroll j<G_N4: let yy{j} = iy{j} + vec4<i32>(i32(ki)); let xx{j} = ix{j} + vec4<i32>(i32(kj));
      // @unroll j<G_N4: let ok{j} = (yy{j} >= vec4<i32>(0)) & (yy{j} < hv) & (xx{j} >= vec4<i32>(0)) & (xx{j} < wv);
      // @unroll j<G_N4: let o{j} = select(vec4<u32>(0u), vec4<u32>(yy{j} * wv + xx{j}), ok{j});
      for (var c = 0u; c < p.c; c += 4u) {
        let xc = xb + c * hw;
        let wc = c * kk + wk;
        // @unroll r<4 j<G_N4: let tb{r}_{j} = select(vec4<f32>(0.0), vec4<f32>(f32(x[xc + {r}u * hw + o{j}.x]), f32(x[xc + {r}u * hw + o{j}.y]), f32(x[xc + {r}u * hw + o{j}.z]), f32(x[xc + {r}u * hw + o{j}.w])), ok{j});
        // @unroll i<G_TM: let ta{i} = vec4<f32>(f32(wt[wr{i} + wc]), f32(wt[wr{i} + wc + kk]), f32(wt[wr{i} + wc + 2u * kk]), f32(wt[wr{i} + wc + 3u * kk]));
        // @unroll i<G_TM j<G_N4: c{i}_{j} = fma(vec4<f32>(ta{i}.x), tb0_{j}, c{i}_{j}); c{i}_{j} = fma(vec4<f32>(ta{i}.y), tb1_{j}, c{i}_{j}); c{i}_{j} = fma(vec4<f32>(ta{i}.z), tb2_{j}, c{i}_{j}); c{i}_{j} = fma(vec4<f32>(ta{i}.w), tb3_{j}, c{i}_{j});
      }
    }
  }
  let yb = g.z * p.f * np;
  // @unroll i<G_TM j<G_N4: if (row + {i}u < p.f) { let yo = yb + (row + {i}u) * np + col + {j}u * 4u; let left = np - min(np, col + {j}u * 4u); if (left > 0u) { y[yo] = T(c{i}_{j}.x); } if (left > 1u) { y[yo + 1u] = T(c{i}_{j}.y); } if (left > 2u) { y[yo + 2u] = T(c{i}_{j}.z); } if (left > 3u) { y[yo + 3u] = T(c{i}_{j}.w); } }
}
