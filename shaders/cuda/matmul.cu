// matmul: C[M,N] = A[M,K] @ B[K,N] (row-major), float32 or float16 storage, float32 math.
//
// matmul_tile128<T>: the register-blocked 128x128 tile (see gemm.cuh); the backend picks it
//   when K % 4 == 0 and N % 4 == 0. Grid (ceil(N/128), ceil(M/128), 1), 256 threads.
// matmul_simple<T>: 16x16 shared-memory tiles for any shape. Grid (ceil(N/16), ceil(M/16), 1),
//   256 threads.
#include "gemm.cuh"

template <typename T>
__global__ void __launch_bounds__(256, 2)
matmul_tile128(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C, int M, int N, int K) {
    gemm_tile128<T, AT_EPI_NONE>(A, B, C, (const T*)nullptr, M, N, K, 0, 0, 0);
}

template <typename T>
__global__ void __launch_bounds__(256)
matmul_simple(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C, int M, int N, int K) {
    gemm_simple<T, AT_EPI_NONE>(A, B, C, (const T*)nullptr, M, N, K, 0, 0, 0);
}
