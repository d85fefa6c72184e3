// reduce: Y = sum or max of X (rows, cols) over axis 1 (one value per row) or axis 0 (one
// value per column). Sums accumulate in float32 (also for float16 inputs), as the spec says.
//
// reduce_rows<T, VW, GROUP, IS_MAX>: axis 1. GROUP threads own a row (32: a warp, 8 rows per
//   256-thread block; 256: the block), vector loads (cols % VW == 0), 4 loads in flight.
//   Grid ceil(rows / (256 / GROUP)).
// reduce_cols<T, IS_MAX>: axis 0. A 32 x 8 block: threadIdx.x picks the column (coalesced),
//   threadIdx.y strides over rows; the 8 partials meet in shared memory. Grid ceil(cols / 32).
#include "common.cuh"

template <bool IS_MAX>
__device__ __forceinline__ float red_op(float a, float b) {
    if constexpr (IS_MAX) return fmaxf(a, b);
    else return a + b;
}

template <typename T, int VW, int GROUP, bool IS_MAX>
__global__ void __launch_bounds__(256)
reduce_rows(const T* __restrict__ x, T* __restrict__ y, int rows, int cols) {
    constexpr int ROWS_PER_BLOCK = 256 / GROUP;
    __shared__ float scratch[32];
    const int g = threadIdx.x / GROUP, lt = threadIdx.x % GROUP;
    const long long row = (long long)blockIdx.x * ROWS_PER_BLOCK + g;
    if (GROUP == 32 && row >= rows) return;
    const T* xr = x + row * cols;
    const int nvec = cols / VW;
    const float init = IS_MAX ? AT_NEG_INF : 0.0f;
    float acc = init;
#pragma unroll 4
    for (int idx = lt; idx < nvec; idx += GROUP) {
        float v[VW];
        load_vec<T, VW>(xr + (long long)idx * VW, v);
#pragma unroll
        for (int e = 0; e < VW; ++e) acc = red_op<IS_MAX>(acc, v[e]);
    }
    if constexpr (IS_MAX) acc = group_max<GROUP>(acc, scratch);
    else acc = group_sum<GROUP>(acc, scratch);
    if (lt == 0) y[row] = from_f32<T>(acc);
}

template <typename T, bool IS_MAX>
__global__ void __launch_bounds__(256)
reduce_cols(const T* __restrict__ x, T* __restrict__ y, int rows, int cols) {
    __shared__ float part[8][33];
    const int col = blockIdx.x * 32 + threadIdx.x;
    const float init = IS_MAX ? AT_NEG_INF : 0.0f;
    float acc = init;
    if (col < cols) {
        for (int r = threadIdx.y; r < rows; r += 8) acc = red_op<IS_MAX>(acc, to_f32(x[(long long)r * cols + col]));
    }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < cols) {
        float t = part[0][threadIdx.x];
#pragma unroll
        for (int k = 1; k < 8; ++k) t = red_op<IS_MAX>(t, part[k][threadIdx.x]);
        y[col] = from_f32<T>(t);
    }
}
