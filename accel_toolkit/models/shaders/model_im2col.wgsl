// model_im2col.wgsl: y[b, t, c * 3 + k] = x[b, t * stride + k - 1, c] (zero outside), the
// windows of a kernel-3, padding-1 conv1d over x [batch, frames, channels] (Whisper's front
// end), so the convolution is a matmul; one invocation per output element (tiled over y).
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  batch: u32,
  seq: u32,      // output frames
  width: u32,    // input channels
  frames: u32,   // input frames
  stride: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let cols = p.width * 3u;
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.batch * p.seq * cols) {
    return;
  }
  let col = i % cols;
  let t = (i / cols) % p.seq;
  let b = i / (cols * p.seq);
  let c = col / 3u;
  let k = col % 3u;
  let src = i32(t * p.stride + k) - 1;
  var v = T(0.0);
  if (src >= 0 && u32(src) < p.frames) {
    v = x[(b * p.frames + u32(src)) * p.width + c];
  }
  y[i] = v;
}
