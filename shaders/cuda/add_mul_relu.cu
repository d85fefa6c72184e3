// add_mul_relu: Y = max((A + B) * C, 0), elementwise over n values, one pass (3 reads, 1 write).
//
// add_mul_relu<T>: grid-stride over 4-element vectors; the n % 4 tail is done one by one.
//   256 threads.
#include "common.cuh"

__device__ __forceinline__ float amr(float a, float b, float c) { return fmaxf((a + b) * c, 0.0f); }

template <typename T>
__global__ void __launch_bounds__(256)
add_mul_relu(const T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ c,
             T* __restrict__ y, long long n) {
    const long long n4 = n / 4;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (long long i = tid; i < n4; i += stride) {
        float va[4], vb[4], vc[4], vy[4];
        load_vec<T, 4>(a + i * 4, va);
        load_vec<T, 4>(b + i * 4, vb);
        load_vec<T, 4>(c + i * 4, vc);
#pragma unroll
        for (int e = 0; e < 4; ++e) vy[e] = amr(va[e], vb[e], vc[e]);
        store_vec<T, 4>(y + i * 4, vy);
    }
    const long long t = n4 * 4 + tid;
    if (t < n) y[t] = from_f32<T>(amr(to_f32(a[t]), to_f32(b[t]), to_f32(c[t])));
}
