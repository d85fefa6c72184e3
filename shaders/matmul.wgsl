// matmul.wgsl: C[b] = A[b] @ B[b] for b < batch (batch = 1 for matmul, B for batched_matmul).
// A is [M, K], B is [K, N], C is [M, N], all row-major, one batch after the other.
// Three entry points, picked by the plan's variant:
//   naive    one invocation per output, WG_X x WG_Y invocations per workgroup;
//   tiled    TILE x TILE outputs per workgroup, A and B staged through workgroup memory;
//   blocked  register blocking: TILE x TILE invocations each compute RT x RT outputs
//            (a (TILE*RT) x (TILE*RT) block of C), A and B staged TILE columns/rows at a time.
// Values are stored as T (f32 or f16) and accumulated in f32.
alias T = f32;  // @dtype: the plan swaps this line for `enable f16; alias T = f16;`

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
}

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> c: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
override TILE: u32 = 16u;

const RT: u32 = 4u;  // outputs per invocation along each axis in `blocked`

var<workgroup> tile_a: array<f32, TILE * TILE>;
var<workgroup> tile_b: array<f32, TILE * TILE>;
var<workgroup> blk_a: array<f32, TILE * TILE * RT>;
var<workgroup> blk_b: array<f32, TILE * TILE * RT>;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn naive(@builtin(global_invocation_id) g: vec3<u32>) {
  let col = g.x;
  let row = g.y;
  let bat = g.z;
  if (row >= p.M || col >= p.N || bat >= p.batch) {
    return;
  }
  let a0 = bat * p.M * p.K + row * p.K;
  let b0 = bat * p.K * p.N + col;
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc += f32(a[a0 + k]) * f32(b[b0 + k * p.N]);
  }
  c[bat * p.M * p.N + row * p.N + col] = T(acc);
}

@compute @workgroup_size(TILE, TILE, 1)
fn tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y * TILE + lid.y;
  let col = wid.x * TILE + lid.x;
  let bat = wid.z;
  let a0 = bat * p.M * p.K;
  let b0 = bat * p.K * p.N;
  let tiles = (p.K + TILE - 1u) / TILE;
  var acc = 0.0;
  for (var t = 0u; t < tiles; t++) {
    let ka = t * TILE + lid.x;
    var va = 0.0;
    if (row < p.M && ka < p.K) {
      va = f32(a[a0 + row * p.K + ka]);
    }
    tile_a[lid.y * TILE + lid.x] = va;
    let kb = t * TILE + lid.y;
    var vb = 0.0;
    if (kb < p.K && col < p.N) {
      vb = f32(b[b0 + kb * p.N + col]);
    }
    tile_b[lid.y * TILE + lid.x] = vb;
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      acc += tile_a[lid.y * TILE + k] * tile_b[k * TILE + lid.x];
    }
    workgroupBarrier();
  }
  if (row < p.M && col < p.N) {
    c[bat * p.M * p.N + row * p.N + col] = T(acc);
  }
}

@compute @workgroup_size(TILE, TILE, 1)
fn blocked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let span = TILE * RT;              // rows (and columns) of C per workgroup
  let row0 = wid.y * span;
  let col0 = wid.x * span;
  let bat = wid.z;
  let a0 = bat * p.M * p.K;
  let b0 = bat * p.K * p.N;
  let tiles = (p.K + TILE - 1u) / TILE;
  var acc: array<f32, 16>;           // RT * RT, row-major
  var av: array<f32, 4>;
  var bv: array<f32, 4>;
  for (var t = 0u; t < tiles; t++) {
    // blk_a is span x TILE (rows of A), blk_b is TILE x span (rows of B).
    for (var i = li; i < span * TILE; i += TILE * TILE) {
      let r = row0 + i / TILE;
      let k = t * TILE + i % TILE;
      var va = 0.0;
      if (r < p.M && k < p.K) {
        va = f32(a[a0 + r * p.K + k]);
      }
      blk_a[i] = va;
      let kb = t * TILE + i / span;
      let col = col0 + i % span;
      var vb = 0.0;
      if (kb < p.K && col < p.N) {
        vb = f32(b[b0 + kb * p.N + col]);
      }
      blk_b[i] = vb;
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      for (var i = 0u; i < RT; i++) {
        av[i] = blk_a[(lid.y + i * TILE) * TILE + k];
        bv[i] = blk_b[k * span + lid.x + i * TILE];
      }
      for (var i = 0u; i < RT; i++) {
        for (var j = 0u; j < RT; j++) {
          acc[i * RT + j] += av[i] * bv[j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < RT; i++) {
    let r = row0 + lid.y + i * TILE;
    for (var j = 0u; j < RT; j++) {
      let col = col0 + lid.x + j * TILE;
      if (r < p.M && col < p.N) {
        c[bat * p.M * p.N + r * p.N + col] = T(acc[i * RT + j]);
      }
    }
  }
}
