// gelu: Y = 0.5 * X * (1 + erf(X / sqrt(2))), the exact GELU (erff), elementwise over n values.
//
// gelu<T>: grid-stride over 4-element vectors (128-bit float loads, 64-bit half loads); the
//   last n % 4 elements are done one by one by the first threads. 256 threads.
#include "common.cuh"

template <typename T>
__global__ void __launch_bounds__(256)
gelu(const T* __restrict__ x, T* __restrict__ y, long long n) {
    const long long n4 = n / 4;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (long long i = tid; i < n4; i += stride) {
        float v[4];
        load_vec<T, 4>(x + i * 4, v);
#pragma unroll
        for (int e = 0; e < 4; ++e) v[e] = gelu_erf(v[e]);
        store_vec<T, 4>(y + i * 4, v);
    }
    const long long t = n4 * 4 + tid;
    if (t < n) y[t] = from_f32<T>(gelu_erf(to_f32(x[t])));
}
