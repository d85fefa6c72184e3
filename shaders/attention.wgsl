// attention.wgsl: O = softmax(Q K^T * scale [+ causal mask]) V for Q, K, V, O of shape
// [batch, heads, seq, head_dim]. One workgroup per query row (tiled over y beyond 65535).
// Keys are visited in blocks of WG with an online softmax (running max and running sum,
// as in FlashAttention), so no seq x seq score matrix is ever stored. Each invocation scores
// one key of the block and owns head_dim / WG columns of the output row (DPT at most).
// The entry point `flash` (below) is the register-blocked, barrier-free form.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  batch: u32,
  heads: u32,
  seq: u32,
  dim: u32,
  causal: u32,
  scale_bits: u32,  // f32 bits of 1 / sqrt(head_dim), rounded once on the host
  tiles: u32,  // flash: query tiles per (batch, head)
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

// -- flash: register-blocked, no workgroup memory, no barrier (variant `flash`) --------------
// Each invocation owns A_TQ consecutive query rows of one (batch, head). Its output rows live
// in named vec4 variables o{i}_{d} (A_D4 groups of four columns: head_dim = 4 * A_D4), so
// nothing is an indexed private array (on CPU adapters those are per-lane gathers, see
// docs/tuning.md). Keys and values are read straight from storage as vec4, A_TK keys per
// step, with one online-softmax rescale per step. The `// @unroll` lines are written out by
// the plan (`attention_source` in backends/_wgsl_plans.py); unrendered they are comments.
const A_WG: u32 = 16u;  // @knob invocations per workgroup
const A_TQ: u32 = 1u;  // @knob query rows per invocation
const A_TK: u32 = 4u;  // @knob keys per step (one rescale of the output rows per step)
const A_D4: u32 = 8u;  // @knob head_dim / 4 (set from the shape by the plan)

@group(0) @binding(0) var<storage, read> q4: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> k4: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> v4: array<vec4<T>>;
@group(0) @binding(3) var<storage, read_write> o4: array<vec4<T>>;

@compute @workgroup_size(A_WG)
fn flash(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let item = wid.y * nwg.x + wid.x;
  if (item >= p.batch * p.heads * p.tiles) {
    return;
  }
  let i0 = ((item % p.tiles) * A_WG + lid) * A_TQ;
  if (i0 >= p.seq) {
    return;
  }
  let base = (item / p.tiles) * p.seq * A_D4;
  let scale = bitcast<f32>(p.scale_bits);
  let last = min(i0 + A_TQ, p.seq) - 1u;
  let causal = p.causal != 0u;
  let n_keys = select(p.seq, last + 1u, causal);
  // @unroll i<A_TQ: let r{i} = base + min(i0 + {i}u, last) * A_D4; let lim{i} = select(p.seq, i0 + {i}u + 1u, causal); var m{i} = LOWEST; var l{i} = 0.0;
  // @unroll i<A_TQ d<A_D4: let q{i}_{d} = vec4<f32>(q4[r{i} + {d}u]);
  // @unroll i<A_TQ d<A_D4: var o{i}_{d} = vec4<f32>(0.0);
  for (var j0 = 0u; j0 < n_keys; j0 += A_TK) {
    // @unroll j<A_TK: let kr{j} = base + min(j0 + {j}u, n_keys - 1u) * A_D4;
    // @unroll i<A_TQ j<A_TK: var s{i}_{j} = 0.0;
    // @unroll j<A_TK d<A_D4 i<A_TQ: s{i}_{j} += dot(q{i}_{d}, vec4<f32>(k4[kr{j} + {d}u]));
    // @unroll i<A_TQ j<A_TK: s{i}_{j} = select(LOWEST, s{i}_{j} * scale, j0 + {j}u < lim{i});
    // @unroll i<A_TQ: var mn{i} = m{i};
    // @unroll i<A_TQ j<A_TK: mn{i} = max(mn{i}, s{i}_{j});
    // @unroll i<A_TQ: let c{i} = exp(m{i} - mn{i}); m{i} = mn{i}; l{i} *= c{i};
    // @unroll i<A_TQ d<A_D4: o{i}_{d} *= c{i};
    // @unroll i<A_TQ j<A_TK: let p{i}_{j} = select(0.0, exp(s{i}_{j} - mn{i}), j0 + {j}u < lim{i}); l{i} += p{i}_{j};
    // @unroll j<A_TK d<A_D4 i<A_TQ: o{i}_{d} = fma(vec4<f32>(p{i}_{j}), vec4<f32>(v4[kr{j} + {d}u]), o{i}_{d});
  }
  // @unroll i<A_TQ d<A_D4: if (i0 + {i}u < p.seq) { o4[r{i} + {d}u] = vec4<T>(o{i}_{d} * (1.0 / l{i})); }
}
