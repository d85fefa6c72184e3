// batched_matmul: C[b] = A[b] @ B[b] for b < batch; A (batch, M, K), B (batch, K, N), row-major.
//
// batched_matmul_tile128<T>: the 128x128 register-blocked tile of gemm.cuh, one batch item per
//   blockIdx.z; needs K % 4 == 0 and N % 4 == 0. Grid (ceil(N/128), ceil(M/128), batch).
// batched_matmul_simple<T>: 16x16 tiles, any shape. Grid (ceil(N/16), ceil(M/16), batch).
#include "gemm.cuh"

template <typename T>
__global__ void __launch_bounds__(256, 2)
batched_matmul_tile128(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                       int M, int N, int K) {
    gemm_tile128<T, AT_EPI_NONE>(A, B, C, (const T*)nullptr, M, N, K,
                                 (long long)M * K, (long long)K * N, (long long)M * N);
}

template <typename T>
__global__ void __launch_bounds__(256)
batched_matmul_simple(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                      int M, int N, int K) {
    gemm_simple<T, AT_EPI_NONE>(A, B, C, (const T*)nullptr, M, N, K,
                                (long long)M * K, (long long)K * N, (long long)M * N);
}
