// model_patch.wgsl: ViT's token rows, y[b, 0] = cls + pos[0] and y[b, t] = rows[b, t - 1] +
// pos[t], from the patch projection rows [batch * (seq - 1), hidden] (bias added already) and
// extra = [cls, pos...]; one invocation per output element (tiled over y beyond 65535).
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  batch: u32,
  seq: u32,
  width: u32,
  _p0: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> extra: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.batch * p.seq * p.width) {
    return;
  }
  let c = i % p.width;
  let t = (i / p.width) % p.seq;
  let b = i / (p.width * p.seq);
  let posv = f32(extra[p.width + t * p.width + c]);
  if (t == 0u) {
    y[i] = T(f32(extra[c]) + posv);
  } else {
    y[i] = T(f32(x[(b * (p.seq - 1u) + t - 1u) * p.width + c]) + posv);
  }
}
