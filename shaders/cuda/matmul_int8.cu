// matmul_int8: C = (A @ B accumulated in int32) * scale_a[:, None] * scale_b[None, :] for int8
// A (M, K) and B (K, N), row-major; scales and C in T (float32 math, one rounding to T).
//
// matmul_int8_dp4a<T>: 64 x 64 tile, 32 k-values per tile, 256 threads, 4 x 4 outputs per
//   thread (rows ty + 16*i, columns tx + 16*j). Tiles are staged in shared memory as 32-bit
//   words of 4 consecutive k-values (A rows as they lie; B columns packed on the way in), so
//   the inner product is __dp4a (4 int8 multiply-adds into int32 per instruction).
//   Any M, N, K (zero padding on the edges). Grid (ceil(N / 64), ceil(M / 64)).
#include "common.cuh"

__device__ __forceinline__ int pack4(int b0, int b1, int b2, int b3) {
    return (b0 & 0xff) | ((b1 & 0xff) << 8) | ((b2 & 0xff) << 16) | ((b3 & 0xff) << 24);
}

template <typename T>
__global__ void __launch_bounds__(256)
matmul_int8_dp4a(const signed char* __restrict__ A, const signed char* __restrict__ B,
                 const T* __restrict__ scale_a, const T* __restrict__ scale_b, T* __restrict__ C,
                 int M, int N, int K) {
    constexpr int BM = 64, BN = 64, BKW = 8;  // BKW words = 32 k-values per tile
    __shared__ int As[BM][BKW + 1];
    __shared__ int Bs[BKW][BN];
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;

    int acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0;

    for (int k0 = 0; k0 < K; k0 += 4 * BKW) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {  // A: 64 rows x 8 words, 2 words per thread
            const int e = tid + 256 * r, ar = e >> 3, aw = e & 7;
            const int m = m0 + ar, kb = k0 + 4 * aw;
            int b[4];
#pragma unroll
            for (int u = 0; u < 4; ++u)
                b[u] = (m < M && kb + u < K) ? (int)A[(long long)m * K + kb + u] : 0;
            As[ar][aw] = pack4(b[0], b[1], b[2], b[3]);
        }
#pragma unroll
        for (int r = 0; r < 2; ++r) {  // B: 8 words x 64 columns, 2 words per thread
            const int e = tid + 256 * r, bw = e >> 6, bc = e & 63;
            const int n = n0 + bc, kb = k0 + 4 * bw;
            int b[4];
#pragma unroll
            for (int u = 0; u < 4; ++u)
                b[u] = (n < N && kb + u < K) ? (int)B[(long long)(kb + u) * N + n] : 0;
            Bs[bw][bc] = pack4(b[0], b[1], b[2], b[3]);
        }
        __syncthreads();
#pragma unroll
        for (int kw = 0; kw < BKW; ++kw) {
            int a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = As[ty + 16 * i][kw];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = Bs[kw][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = __dp4a(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int m = m0 + ty + 16 * i;
        if (m >= M) continue;
        const float sa = to_f32(scale_a[m]);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int n = n0 + tx + 16 * j;
            if (n < N) C[(long long)m * N + n] = from_f32<T>((float)acc[i][j] * sa * to_f32(scale_b[n]));
        }
    }
}
