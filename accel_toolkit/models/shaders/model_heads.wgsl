// model_heads.wgsl: moving attention heads between the token-major layout of the projections
// and the head-major layout of attention.wgsl, one invocation per element (tiled over y
// beyond 65535 workgroups).
//   split_one: block WHICH of qkv [batch * seq, 3 * hidden] -> dst [batch, heads, seq, dim]
//   merge:     ctx [batch, heads, seq, dim] -> dst [batch * seq, hidden]
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  batch: u32,
  seq: u32,
  heads: u32,
  dim: u32,
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn merge(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let hidden = p.heads * p.dim;
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.batch * p.seq * hidden) {
    return;
  }
  let j = i % p.dim;
  let t = (i / p.dim) % p.seq;
  let bh = i / (p.dim * p.seq);
  let h = bh % p.heads;
  let b = bh / p.heads;
  dst[(b * p.seq + t) * hidden + h * p.dim + j] = src[i];
}

override WHICH: u32 = 0u;  // split_one: 0 q, 1 k, 2 v

@compute @workgroup_size(WG)
fn split_one(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let hidden = p.heads * p.dim;
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.batch * p.seq * hidden) {
    return;
  }
  let row = i / hidden;
  let c = i % hidden;
  let h = c / p.dim;
  let j = c % p.dim;
  let b = row / p.seq;
  let t = row % p.seq;
  dst[((b * p.heads + h) * p.seq + t) * p.dim + j] = src[row * 3u * hidden + WHICH * hidden + c];
}
