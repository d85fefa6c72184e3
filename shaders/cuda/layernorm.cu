// layernorm: Y = (X - mean) / sqrt(var + eps) * gamma + beta over the last axis of X (rows, cols),
// var the biased (population) variance, as accel_toolkit.kernels defines it.
//
// layernorm_cached<T, VW, NC, GROUP>: GROUP threads own a row (32: a warp, 8 rows per block;
//   256: the block); the row is held in registers, so mean and variance are two exact passes
//   over registers and global memory sees one read and one write. cols % VW == 0.
// layernorm_looped<T, VW>: one block per row for long rows: sum, centred sum of squares,
//   then the write pass, each re-reading the row (from L2 when it fits).
#include "common.cuh"

template <typename T, int VW, int NC, int GROUP>
__global__ void __launch_bounds__(256)
layernorm_cached(const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                 T* __restrict__ y, int rows, int cols, float eps) {
    constexpr int ROWS_PER_BLOCK = 256 / GROUP;
    __shared__ float scratch[32];
    const int g = threadIdx.x / GROUP, lt = threadIdx.x % GROUP;
    const long long row = (long long)blockIdx.x * ROWS_PER_BLOCK + g;
    if (GROUP == 32 && row >= rows) return;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    const int nvec = cols / VW;

    float v[NC][VW];
    float s = 0.0f;
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        const int idx = c * GROUP + lt;
        if (idx < nvec) {
            load_vec<T, VW>(xr + (long long)idx * VW, v[c]);
#pragma unroll
            for (int e = 0; e < VW; ++e) s += v[c][e];
        }
    }
    const float mean = group_sum<GROUP>(s, scratch) / (float)cols;
    float q = 0.0f;
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        if (c * GROUP + lt < nvec) {
#pragma unroll
            for (int e = 0; e < VW; ++e) {
                v[c][e] -= mean;
                q = fmaf(v[c][e], v[c][e], q);
            }
        }
    }
    const float var = group_sum<GROUP>(q, scratch) / (float)cols;
    const float rstd = rsqrtf(var + eps);
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        const int idx = c * GROUP + lt;
        if (idx < nvec) {
            float gv[VW], bv[VW];
            load_vec<T, VW>(gamma + (long long)idx * VW, gv);
            load_vec<T, VW>(beta + (long long)idx * VW, bv);
#pragma unroll
            for (int e = 0; e < VW; ++e) v[c][e] = fmaf(v[c][e] * rstd, gv[e], bv[e]);
            store_vec<T, VW>(yr + (long long)idx * VW, v[c]);
        }
    }
}

template <typename T, int VW>
__global__ void __launch_bounds__(256)
layernorm_looped(const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                 T* __restrict__ y, int rows, int cols, float eps) {
    __shared__ float scratch[32];
    const long long row = blockIdx.x;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    const int nvec = cols / VW;
    float s = 0.0f;
    for (int idx = threadIdx.x; idx < nvec; idx += 256) {
        float v[VW];
        load_vec<T, VW>(xr + (long long)idx * VW, v);
#pragma unroll
        for (int e = 0; e < VW; ++e) s += v[e];
    }
    const float mean = group_sum<256>(s, scratch) / (float)cols;
    float q = 0.0f;
    for (int idx = threadIdx.x; idx < nvec; idx += 256) {
        float v[VW];
        load_vec<T, VW>(xr + (long long)idx * VW, v);
#pragma unroll
        for (int e = 0; e < VW; ++e) {
            const float d = v[e] - mean;
            q = fmaf(d, d, q);
        }
    }
    const float rstd = rsqrtf(group_sum<256>(q, scratch) / (float)cols + eps);
    for (int idx = threadIdx.x; idx < nvec; idx += 256) {
        float v[VW], gv[VW], bv[VW];
        load_vec<T, VW>(xr + (long long)idx * VW, v);
        load_vec<T, VW>(gamma + (long long)idx * VW, gv);
        load_vec<T, VW>(beta + (long long)idx * VW, bv);
#pragma unroll
        for (int e = 0; e < VW; ++e) v[e] = fmaf((v[e] - mean) * rstd, gv[e], bv[e]);
        store_vec<T, VW>(yr + (long long)idx * VW, v);
    }
}
