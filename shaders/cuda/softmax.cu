// softmax: Y = exp(X - max) / sum(exp(X - max)) over the last axis of X (rows, cols).
//
// softmax_cached<T, VW, NC, GROUP>: a group of GROUP threads owns a row (GROUP = 32: one warp
//   per row, 8 rows per 256-thread block; GROUP = 256: one block per row). The row is read
//   once into registers (NC vectors of VW elements per thread, cols % VW == 0), so global
//   memory sees exactly one read and one write per element. Grid ceil(rows / (256 / GROUP)).
// softmax_looped<T, VW>: one block per row for rows too long to cache: an online (running
//   max, rescaled sum) pass, then a pass that writes. Grid rows, 256 threads.
#include "common.cuh"

template <typename T, int VW, int NC, int GROUP>
__global__ void __launch_bounds__(256)
softmax_cached(const T* __restrict__ x, T* __restrict__ y, int rows, int cols) {
    constexpr int ROWS_PER_BLOCK = 256 / GROUP;
    __shared__ float scratch[32];
    const int g = threadIdx.x / GROUP, lt = threadIdx.x % GROUP;
    const long long row = (long long)blockIdx.x * ROWS_PER_BLOCK + g;
    if (GROUP == 32 && row >= rows) return;  // a whole idle warp; GROUP == 256 never idles
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    const int nvec = cols / VW;

    float v[NC][VW];
    float m = AT_NEG_INF;
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        const int idx = c * GROUP + lt;
        if (idx < nvec) {
            load_vec<T, VW>(xr + (long long)idx * VW, v[c]);
#pragma unroll
            for (int e = 0; e < VW; ++e) m = fmaxf(m, v[c][e]);
        }
    }
    m = group_max<GROUP>(m, scratch);
    float s = 0.0f;
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        if (c * GROUP + lt < nvec) {
#pragma unroll
            for (int e = 0; e < VW; ++e) {
                v[c][e] = expf(v[c][e] - m);
                s += v[c][e];
            }
        }
    }
    s = group_sum<GROUP>(s, scratch);
    const float inv = 1.0f / s;
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        const int idx = c * GROUP + lt;
        if (idx < nvec) {
#pragma unroll
            for (int e = 0; e < VW; ++e) v[c][e] *= inv;
            store_vec<T, VW>(yr + (long long)idx * VW, v[c]);
        }
    }
}

template <typename T, int VW>
__global__ void __launch_bounds__(256)
softmax_looped(const T* __restrict__ x, T* __restrict__ y, int rows, int cols) {
    __shared__ float scratch[32];
    const long long row = blockIdx.x;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    const int nvec = cols / VW;
    float m = AT_NEG_INF, s = 0.0f;
    for (int idx = threadIdx.x; idx < nvec; idx += 256) {
        float v[VW];
        load_vec<T, VW>(xr + (long long)idx * VW, v);
#pragma unroll
        for (int e = 0; e < VW; ++e) {
            if (v[e] > m) {
                s = s * expf(m - v[e]) + 1.0f;
                m = v[e];
            } else {
                s += expf(v[e] - m);
            }
        }
    }
    const float gm = group_max<256>(m, scratch);
    s = (m == AT_NEG_INF) ? 0.0f : s * expf(m - gm);
    const float inv = 1.0f / group_sum<256>(s, scratch);
    for (int idx = threadIdx.x; idx < nvec; idx += 256) {
        float v[VW];
        load_vec<T, VW>(xr + (long long)idx * VW, v);
#pragma unroll
        for (int e = 0; e < VW; ++e) v[e] = expf(v[e] - gm) * inv;
        store_vec<T, VW>(yr + (long long)idx * VW, v);
    }
}
