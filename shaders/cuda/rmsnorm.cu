// rmsnorm: Y = X / sqrt(mean(X^2) + eps) * gamma over the last axis of X (rows, cols), as
// accel_toolkit.kernels defines it.
//
// rmsnorm_cached<T, VW, NC, GROUP>: GROUP threads own a row (32: a warp, 8 rows per block;
//   256: the block); the row is held in registers, so global memory sees one read and one
//   write. cols % VW == 0.
// rmsnorm_looped<T, VW>: one block per row for long rows: the sum of squares, then the write
//   pass, re-reading the row (from L2 when it fits).
#include "common.cuh"

template <typename T, int VW, int NC, int GROUP>
__global__ void __launch_bounds__(256)
rmsnorm_cached(const T* __restrict__ x, const T* __restrict__ gamma, T* __restrict__ y,
               int rows, int cols, float eps) {
    constexpr int ROWS_PER_BLOCK = 256 / GROUP;
    __shared__ float scratch[32];
    const int g = threadIdx.x / GROUP, lt = threadIdx.x % GROUP;
    const long long row = (long long)blockIdx.x * ROWS_PER_BLOCK + g;
    if (GROUP == 32 && row >= rows) return;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    const int nvec = cols / VW;

    float v[NC][VW];
    float q = 0.0f;
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        const int idx = c * GROUP + lt;
        if (idx < nvec) {
            load_vec<T, VW>(xr + (long long)idx * VW, v[c]);
#pragma unroll
            for (int e = 0; e < VW; ++e) q = fmaf(v[c][e], v[c][e], q);
        }
    }
    const float rrms = rsqrtf(group_sum<GROUP>(q, scratch) / (float)cols + eps);
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        const int idx = c * GROUP + lt;
        if (idx < nvec) {
            float gv[VW];
            load_vec<T, VW>(gamma + (long long)idx * VW, gv);
#pragma unroll
            for (int e = 0; e < VW; ++e) v[c][e] = v[c][e] * rrms * gv[e];
            store_vec<T, VW>(yr + (long long)idx * VW, v[c]);
        }
    }
}

template <typename T, int VW>
__global__ void __launch_bounds__(256)
rmsnorm_looped(const T* __restrict__ x, const T* __restrict__ gamma, T* __restrict__ y,
               int rows, int cols, float eps) {
    __shared__ float scratch[32];
    const long long row = blockIdx.x;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    const int nvec = cols / VW;
    float q = 0.0f;
    for (int idx = threadIdx.x; idx < nvec; idx += 256) {
        float v[VW];
        load_vec<T, VW>(xr + (long long)idx * VW, v);
#pragma unroll
        for (int e = 0; e < VW; ++e) q = fmaf(v[e], v[e], q);
    }
    const float rrms = rsqrtf(group_sum<256>(q, scratch) / (float)cols + eps);
    for (int idx = threadIdx.x; idx < nvec; idx += 256) {
        float v[VW], gv[VW];
        load_vec<T, VW>(xr + (long long)idx * VW, v);
        load_vec<T, VW>(gamma + (long long)idx * VW, gv);
#pragma unroll
        for (int e = 0; e < VW; ++e) v[e] = v[e] * rrms * gv[e];
        store_vec<T, VW>(yr + (long long)idx * VW, v);
    }
}
