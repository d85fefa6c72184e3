// dequantize_int8: X[r, c] = Q[r, c] * scale[r] (per-row int8 dequantization), X in T.
//
// dequantize_int8<T, VW>: grid-stride over VW-element vectors of the flattened (rows, cols)
//   array; cols % VW == 0 so a vector never straddles two rows (VW = 4: one 32-bit load of Q,
//   one 128-bit (float) or 64-bit (half) store). 256 threads.
#include "common.cuh"

template <typename T, int VW>
__global__ void __launch_bounds__(256)
dequantize_int8(const signed char* __restrict__ q, const T* __restrict__ scale, T* __restrict__ x,
                int rows, int cols) {
    const long long nvec = (long long)rows * cols / VW;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < nvec; i += stride) {
        const long long e0 = i * VW;
        const float s = to_f32(scale[e0 / cols]);
        int b[VW];
        if constexpr (VW == 4) {
            const int w = *reinterpret_cast<const int*>(q + e0);
            b[0] = (int)(signed char)(w & 0xff);
            b[1] = (int)(signed char)((w >> 8) & 0xff);
            b[2] = (int)(signed char)((w >> 16) & 0xff);
            b[3] = (int)(signed char)((w >> 24) & 0xff);
        } else if constexpr (VW == 2) {
            const unsigned short w = *reinterpret_cast<const unsigned short*>(q + e0);
            b[0] = (int)(signed char)(w & 0xff);
            b[1] = (int)(signed char)((w >> 8) & 0xff);
        } else {
            b[0] = (int)q[e0];
        }
        float v[VW];
#pragma unroll
        for (int e = 0; e < VW; ++e) v[e] = (float)b[e] * s;
        store_vec<T, VW>(x + e0, v);
    }
}
