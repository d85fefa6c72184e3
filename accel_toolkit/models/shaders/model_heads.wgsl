// model_heads.wgsl: moving attention heads between the token-major layout of the projections
// and the head-major layout of attention.wgsl.
//   split: qkv [batch * seq, 3 * hidden] -> out [3, batch, heads, seq, dim] (q, k, v blocks)
//   merge: ctx [batch, heads, seq, dim]  -> out [batch * seq, hidden]
// One invocation per source element (tiled over y beyond 65535 workgroups).
struct Params {
  batch: u32,
  seq: u32,
  heads: u32,
  dim: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let hidden = p.heads * p.dim;
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.batch * p.seq * 3u * hidden) {
    return;
  }
  let row = i / (3u * hidden);           // b * seq + t
  let c = i % (3u * hidden);
  let which = c / hidden;                // 0 q, 1 k, 2 v
  let h = (c % hidden) / p.dim;
  let j = c % p.dim;
  let b = row / p.seq;
  let t = row % p.seq;
  let block = p.batch * hidden * p.seq;
  dst[which * block + ((b * p.heads + h) * p.seq + t) * p.dim + j] = src[i];
}

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

// split_one: block WHICH (0 q, 1 k, 2 v) of qkv into its own buffer [batch, heads, seq, dim],
// for executors that bind whole buffers only (a ComputePlan).
override WHICH: u32 = 0u;

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
