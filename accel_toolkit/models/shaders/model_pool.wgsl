// model_pool.wgsl: one sequence's output from its last hidden states x [batch, seq, hidden],
// one workgroup per sequence, written to row (row0 + b) of out [rows, hidden].
//   mode 0: mean over the seq tokens, then divided by its L2 norm (sentence embeddings);
//   mode 1: the first token (ViT's class token).
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  seq: u32,
  hidden: u32,
  row0: u32,
  mode: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> out: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 128u;  // a power of two
const MAX_HIDDEN: u32 = 1024u;

var<workgroup> row: array<f32, MAX_HIDDEN>;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x;
  let base = b * p.seq * p.hidden;
  let dst = (p.row0 + b) * p.hidden;
  if (p.mode == 1u) {
    for (var c = lid; c < p.hidden; c += WG) {
      out[dst + c] = x[base + c];
    }
    return;
  }
  var ss = 0.0;
  for (var c = lid; c < p.hidden; c += WG) {
    var s = 0.0;
    for (var t = 0u; t < p.seq; t++) {
      s += f32(x[base + t * p.hidden + c]);
    }
    let m = s / f32(p.seq);
    row[c] = m;
    ss += m * m;
  }
  red[lid] = ss;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) {
      red[lid] += red[lid + st];
    }
    workgroupBarrier();
  }
  let inv = 1.0 / max(sqrt(red[0]), 1e-12);
  for (var c = lid; c < p.hidden; c += WG) {
    out[dst + c] = T(row[c] * inv);
  }
}
