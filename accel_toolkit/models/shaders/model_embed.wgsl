// model_embed.wgsl: BERT's input embedding, out[t, c] = word[ids[t], c] + pos[t % seq, c] +
// type[types[t], c] for the t < tokens rows of a batch of sequences of length seq, one
// invocation per output element (tiled over y beyond 65535 workgroups).
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  tokens: u32,
  hidden: u32,
  seq: u32,
  _p0: u32,
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> types: array<u32>;
@group(0) @binding(2) var<storage, read> word: array<T>;
@group(0) @binding(3) var<storage, read> pos: array<T>;
@group(0) @binding(4) var<storage, read> tok_type: array<T>;
@group(0) @binding(5) var<storage, read_write> y: array<T>;
@group(0) @binding(6) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.tokens * p.hidden) {
    return;
  }
  let t = i / p.hidden;
  let c = i % p.hidden;
  y[i] = T(f32(word[ids[t] * p.hidden + c]) + f32(pos[(t % p.seq) * p.hidden + c]) +
           f32(tok_type[types[t] * p.hidden + c]));
}
