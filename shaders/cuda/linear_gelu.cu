// linear_gelu: Y = GELU(X @ W + bias), fused: the bias add and the exact (erf) GELU run in the
// GEMM epilogue on the float32 accumulators, so Y is written once.
// X (M, K), W (K, N), bias (N,), Y (M, N), row-major.
//
// linear_gelu_tile128<T>: 128x128 register-blocked tile (gemm.cuh); needs K % 4 == 0 and
//   N % 4 == 0. Grid (ceil(N/128), ceil(M/128), 1), 256 threads.
// linear_gelu_simple<T>: 16x16 tiles, any shape. Grid (ceil(N/16), ceil(M/16), 1).
#include "gemm.cuh"

template <typename T>
__global__ void __launch_bounds__(256, 2)
linear_gelu_tile128(const T* __restrict__ X, const T* __restrict__ W, const T* __restrict__ bias,
                    T* __restrict__ Y, int M, int N, int K) {
    gemm_tile128<T, AT_EPI_BIAS_GELU>(X, W, Y, bias, M, N, K, 0, 0, 0);
}

template <typename T>
__global__ void __launch_bounds__(256)
linear_gelu_simple(const T* __restrict__ X, const T* __restrict__ W, const T* __restrict__ bias,
                   T* __restrict__ Y, int M, int N, int K) {
    gemm_simple<T, AT_EPI_BIAS_GELU>(X, W, Y, bias, M, N, K, 0, 0, 0);
}
