// attention.wgsl: O = softmax(Q K^T * scale [+ causal mask]) V for Q, K, V, O of shape
// [batch, heads, seq, head_dim]. One workgroup per query row (tiled over y beyond 65535).
// Keys are visited in blocks of WG with an online softmax (running max and running sum,
// as in FlashAttention), so no seq x seq score matrix is ever stored. Each invocation scores
// one key of the block and owns head_dim / WG columns of the output row (DPT at most).
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  batch: u32,
  heads: u32,
  seq: u32,
  dim: u32,
  causal: u32,
  scale_bits: u32,  // f32 bits of 1 / sqrt(head_dim), rounded once on the host
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<storage, read> q: array<T>;
@group(0) @binding(1) var<storage, read> k: array<T>;
@group(0) @binding(2) var<storage, read> v: array<T>;
@group(0) @binding(3) var<storage, read_write> o: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 64u;    // a power of two; head_dim <= WG * DPT
const DPT: u32 = 8u;       // output columns per invocation
const MAX_DIM: u32 = 512u;
const LOWEST: f32 = -3.4028234663852886e38;

var<workgroup> q_row: array<f32, MAX_DIM>;
var<workgroup> prob: array<f32, WG>;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let item = wid.y * nwg.x + wid.x;
  if (item >= p.batch * p.heads * p.seq) {
    return;
  }
  let i = item % p.seq;
  let base = (item / p.seq) * p.seq * p.dim;
  let scale = bitcast<f32>(p.scale_bits);
  for (var d = lid; d < p.dim; d += WG) {
    q_row[d] = f32(q[base + i * p.dim + d]);
  }
  workgroupBarrier();

  var n_keys = p.seq;
  if (p.causal != 0u) {
    n_keys = i + 1u;
  }
  var acc: array<f32, DPT>;
  var m_run = LOWEST;
  var l_run = 0.0;
  for (var j0 = 0u; j0 < n_keys; j0 += WG) {
    let j = j0 + lid;
    var s = LOWEST;
    if (j < n_keys) {
      var dot = 0.0;
      for (var d = 0u; d < p.dim; d++) {
        dot += q_row[d] * f32(k[base + j * p.dim + d]);
      }
      s = dot * scale;
    }
    red[lid] = s;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st >>= 1u) {
      if (lid < st) {
        red[lid] = max(red[lid], red[lid + st]);
      }
      workgroupBarrier();
    }
    let m_new = max(m_run, red[0]);
    workgroupBarrier();

    let pj = select(0.0, exp(s - m_new), j < n_keys);
    prob[lid] = pj;
    red[lid] = pj;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st >>= 1u) {
      if (lid < st) {
        red[lid] += red[lid + st];
      }
      workgroupBarrier();
    }
    let corr = exp(m_run - m_new);
    l_run = l_run * corr + red[0];
    m_run = m_new;

    let count = min(WG, n_keys - j0);
    for (var t = 0u; t < DPT; t++) {
      let d = lid + t * WG;
      if (d < p.dim) {
        var sv = 0.0;
        for (var jj = 0u; jj < count; jj++) {
          sv += prob[jj] * f32(v[base + (j0 + jj) * p.dim + d]);
        }
        acc[t] = acc[t] * corr + sv;
      }
    }
    workgroupBarrier();  // prob and red are rewritten by the next block
  }

  let inv = 1.0 / l_run;
  for (var t = 0u; t < DPT; t++) {
    let d = lid + t * WG;
    if (d < p.dim) {
      o[base + i * p.dim + d] = T(acc[t] * inv);
    }
  }
}
