// The GEMM main loops shared by matmul.cu, batched_matmul.cu and linear_gelu.cu.
//
// C[b] = epilogue(A[b] @ B[b]) with A[b] (M x K), B[b] (K x N), C[b] (M x N) row-major,
// b = blockIdx.z and element strides sA, sB, sC between batch items.
//
// gemm_tile128: 128 x 128 block tile, BK = 8, 256 threads, 8 x 8 register tile per thread,
//   double-buffered shared memory (one barrier per k-tile), 128-bit global loads (float4,
//   or 4 halves), A stored transposed in shared memory (padded: conflict-free stores).
//   Each thread owns rows {ty*4 + i, 64 + ty*4 + i} and columns {tx*4 + j, 64 + tx*4 + j}
//   (i, j < 4), so every shared-memory read is a conflict-free float4.
//   Needs K % 4 == 0 and N % 4 == 0 (vector alignment); edges are zero-filled on load and
//   predicated on store, so M, N, K need not be multiples of the tile.
// gemm_simple: 16 x 16 shared-memory tiles, one output per thread, any shape.
#pragma once
#include "common.cuh"

#define AT_EPI_NONE 0
#define AT_EPI_BIAS_GELU 1

template <int EPI, typename T>
__device__ __forceinline__ float gemm_epilogue(float acc, const T* __restrict__ bias, int n) {
    if constexpr (EPI == AT_EPI_BIAS_GELU) {
        return gelu_erf(acc + to_f32(bias[n]));
    } else {
        return acc;
    }
}

template <typename T, int EPI>
__device__ __forceinline__ void gemm_tile128(const T* __restrict__ A, const T* __restrict__ B,
                                             T* __restrict__ C, const T* __restrict__ bias,
                                             int M, int N, int K,
                                             long long sA, long long sB, long long sC) {
    constexpr int BM = 128, BN = 128, BK = 8, PAD = 4;
    __shared__ __align__(16) float As[2][BK][BM + PAD];
    __shared__ __align__(16) float Bs[2][BK][BN];

    const int tid = threadIdx.x;
    const int tx = tid & 15, ty = tid >> 4;
    const int bm = blockIdx.y * BM, bn = blockIdx.x * BN;
    A += (long long)blockIdx.z * sA;
    B += (long long)blockIdx.z * sB;
    C += (long long)blockIdx.z * sC;

    // Loader coordinates: the A tile is 128 x 8 (one 4-vector per thread along K),
    // the B tile 8 x 128 (one 4-vector per thread along N).
    const int a_row = tid >> 1, a_col = (tid & 1) * 4;
    const int b_row = tid >> 5, b_col = (tid & 31) * 4;
    const bool a_in_m = (bm + a_row) < M;
    const bool b_in_n = (bn + b_col) < N;
    const T* a_ptr = A + (long long)(a_in_m ? bm + a_row : 0) * K + a_col;
    const T* b_ptr = B + (long long)b_row * N + (b_in_n ? bn + b_col : 0);

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

    float a_ld[4], b_ld[4];
    const int ktiles = (K + BK - 1) / BK;

    // tile 0
    {
        if (a_in_m && a_col < K) load_vec<T, 4>(a_ptr, a_ld);
        else a_ld[0] = a_ld[1] = a_ld[2] = a_ld[3] = 0.0f;
        if (b_in_n && b_row < K) load_vec<T, 4>(b_ptr, b_ld);
        else b_ld[0] = b_ld[1] = b_ld[2] = b_ld[3] = 0.0f;
#pragma unroll
        for (int e = 0; e < 4; ++e) As[0][a_col + e][a_row] = a_ld[e];
        *reinterpret_cast<float4*>(&Bs[0][b_row][b_col]) = make_float4(b_ld[0], b_ld[1], b_ld[2], b_ld[3]);
    }
    __syncthreads();

    for (int t = 0; t < ktiles; ++t) {
        const int cur = t & 1;
        const bool more = t + 1 < ktiles;
        if (more) {  // prefetch the next k-tile into registers while computing this one
            const int k0 = (t + 1) * BK;
            if (a_in_m && k0 + a_col < K) load_vec<T, 4>(a_ptr + k0, a_ld);
            else a_ld[0] = a_ld[1] = a_ld[2] = a_ld[3] = 0.0f;
            if (b_in_n && k0 + b_row < K) load_vec<T, 4>(b_ptr + (long long)k0 * N, b_ld);
            else b_ld[0] = b_ld[1] = b_ld[2] = b_ld[3] = 0.0f;
        }
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            const float4 a0 = *reinterpret_cast<const float4*>(&As[cur][k][ty * 4]);
            const float4 a1 = *reinterpret_cast<const float4*>(&As[cur][k][64 + ty * 4]);
            const float4 b0 = *reinterpret_cast<const float4*>(&Bs[cur][k][tx * 4]);
            const float4 b1 = *reinterpret_cast<const float4*>(&Bs[cur][k][64 + tx * 4]);
            const float ra[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            const float rb[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(ra[i], rb[j], acc[i][j]);
        }
        if (more) {
            const int nxt = cur ^ 1;
#pragma unroll
            for (int e = 0; e < 4; ++e) As[nxt][a_col + e][a_row] = a_ld[e];
            *reinterpret_cast<float4*>(&Bs[nxt][b_row][b_col]) = make_float4(b_ld[0], b_ld[1], b_ld[2], b_ld[3]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int m = bm + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
        if (m >= M) continue;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int n = bn + h * 64 + tx * 4;
            if (n >= N) continue;  // N % 4 == 0: the 4-vector is all in or all out
            float v[4];
#pragma unroll
            for (int j = 0; j < 4; ++j) v[j] = gemm_epilogue<EPI>(acc[i][h * 4 + j], bias, n + j);
            store_vec<T, 4>(C + (long long)m * N + n, v);
        }
    }
}

template <typename T, int EPI>
__device__ __forceinline__ void gemm_simple(const T* __restrict__ A, const T* __restrict__ B,
                                            T* __restrict__ C, const T* __restrict__ bias,
                                            int M, int N, int K,
                                            long long sA, long long sB, long long sC) {
    constexpr int TS = 16;
    __shared__ float As[TS][TS + 1];
    __shared__ float Bs[TS][TS + 1];
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int m = blockIdx.y * TS + ty, n = blockIdx.x * TS + tx;
    A += (long long)blockIdx.z * sA;
    B += (long long)blockIdx.z * sB;
    C += (long long)blockIdx.z * sC;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TS) {
        As[ty][tx] = (m < M && k0 + tx < K) ? to_f32(A[(long long)m * K + k0 + tx]) : 0.0f;
        Bs[ty][tx] = (k0 + ty < K && n < N) ? to_f32(B[(long long)(k0 + ty) * N + n]) : 0.0f;
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TS; ++kk) acc = fmaf(As[ty][kk], Bs[kk][tx], acc);
        __syncthreads();
    }
    if (m < M && n < N) C[(long long)m * N + n] = from_f32<T>(gemm_epilogue<EPI>(acc, bias, n));
}
