// quantize_int8: symmetric per-row int8 quantization of X (rows, cols):
//   scale[r] = max|X[r, :]| / 127 (1.0 for an all-zero row),
//   Q[r, c]  = clamp(round_half_even(X[r, c] / scale[r]), -127, 127)  (__float2int_rn).
// scale is computed in float32 and stored in T; Q is divided by the float32 scale.
//
// quantize_int8_cached<T, VW, NC, GROUP>: GROUP threads own a row held in registers
//   (32: a warp, 8 rows per block; 256: the block); cols % VW == 0.
// quantize_int8_looped<T, VW>: one block per row, two passes over global memory.
#include "common.cuh"

template <int VW>
__device__ __forceinline__ void store_q(signed char* __restrict__ q, const float (&v)[VW], float scale) {
    int b[VW];
#pragma unroll
    for (int e = 0; e < VW; ++e) b[e] = min(127, max(-127, __float2int_rn(v[e] / scale)));
    if constexpr (VW == 4) {
        *reinterpret_cast<unsigned int*>(q) = (unsigned int)(b[0] & 0xff) | ((unsigned int)(b[1] & 0xff) << 8) |
                                              ((unsigned int)(b[2] & 0xff) << 16) | ((unsigned int)(b[3] & 0xff) << 24);
    } else if constexpr (VW == 2) {
        *reinterpret_cast<unsigned short*>(q) = (unsigned short)((b[0] & 0xff) | ((b[1] & 0xff) << 8));
    } else {
        q[0] = (signed char)b[0];
    }
}

__device__ __forceinline__ float quant_scale(float amax) { return amax > 0.0f ? amax / 127.0f : 1.0f; }

template <typename T, int VW, int NC, int GROUP>
__global__ void __launch_bounds__(256)
quantize_int8_cached(const T* __restrict__ x, signed char* __restrict__ q, T* __restrict__ scale,
                     int rows, int cols) {
    constexpr int ROWS_PER_BLOCK = 256 / GROUP;
    __shared__ float scratch[32];
    const int g = threadIdx.x / GROUP, lt = threadIdx.x % GROUP;
    const long long row = (long long)blockIdx.x * ROWS_PER_BLOCK + g;
    if (GROUP == 32 && row >= rows) return;
    const T* xr = x + row * cols;
    signed char* qr = q + row * cols;
    const int nvec = cols / VW;
    float v[NC][VW];
    float amax = 0.0f;
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        const int idx = c * GROUP + lt;
        if (idx < nvec) {
            load_vec<T, VW>(xr + (long long)idx * VW, v[c]);
#pragma unroll
            for (int e = 0; e < VW; ++e) amax = fmaxf(amax, fabsf(v[c][e]));
        }
    }
    const float sc = quant_scale(group_max<GROUP>(amax, scratch));
    if (lt == 0) scale[row] = from_f32<T>(sc);
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        const int idx = c * GROUP + lt;
        if (idx < nvec) store_q<VW>(qr + (long long)idx * VW, v[c], sc);
    }
}

template <typename T, int VW>
__global__ void __launch_bounds__(256)
quantize_int8_looped(const T* __restrict__ x, signed char* __restrict__ q, T* __restrict__ scale,
                     int rows, int cols) {
    __shared__ float scratch[32];
    const long long row = blockIdx.x;
    const T* xr = x + row * cols;
    signed char* qr = q + row * cols;
    const int nvec = cols / VW;
    float amax = 0.0f;
    for (int idx = threadIdx.x; idx < nvec; idx += 256) {
        float v[VW];
        load_vec<T, VW>(xr + (long long)idx * VW, v);
#pragma unroll
        for (int e = 0; e < VW; ++e) amax = fmaxf(amax, fabsf(v[e]));
    }
    const float sc = quant_scale(group_max<256>(amax, scratch));
    if (threadIdx.x == 0) scale[row] = from_f32<T>(sc);
    for (int idx = threadIdx.x; idx < nvec; idx += 256) {
        float v[VW];
        load_vec<T, VW>(xr + (long long)idx * VW, v);
        store_q<VW>(qr + (long long)idx * VW, v, sc);
    }
}
