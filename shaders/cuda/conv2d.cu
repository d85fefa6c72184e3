// conv2d: Y[n, f, oh, ow] = sum_{c, i, j} W[f, c, i, j] * X[n, c, oh*s + i - p, ow*s + j - p]
// (NCHW input, FCkk weights, square kernel, stride s, zero padding p), as an implicit GEMM:
// rows = filters F, columns = output pixels P = N * OH * OW, inner = C * k * k. W is already
// the (F, C*k*k) row-major matrix; the (C*k*k, P) im2col matrix is never built: each tile is
// gathered from X on the fly (zero outside the image).
//
// conv2d_igemm<T>: 64 x 64 tile, BK = 16, 256 threads, 4 x 4 outputs per thread at rows
//   ty + 16*i and columns tx + 16*j (conflict-free shared reads). Each thread gathers one
//   fixed im2col column (its pixel is decoded once) for 4 inner indices per k-tile.
//   Grid (ceil(P / 64), ceil(F / 64)).
#include "common.cuh"

template <typename T>
__global__ void __launch_bounds__(256)
conv2d_igemm(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y,
             int N, int C, int H, int W, int F, int KS, int stride, int pad, int OH, int OW) {
    constexpr int BM = 64, BN = 64, BK = 16;
    __shared__ float Ws[BK][BM + 1];  // transposed weight tile: Ws[kk][f]
    __shared__ float Xs[BK][BN];      // im2col tile: Xs[kk][pixel]
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int f0 = blockIdx.y * BM;
    const long long p0 = (long long)blockIdx.x * BN;
    const int KK = C * KS * KS, KS2 = KS * KS, OHW = OH * OW;
    const long long P = (long long)N * OHW;

    // this thread's im2col column for the gathers
    const int lc = tid & 63, lr = tid >> 6;
    const long long p = p0 + lc;
    const bool p_ok = p < P;
    int ih0 = 0, iw0 = 0;
    const T* xn = x;
    if (p_ok) {
        const int n_img = (int)(p / OHW), rem = (int)(p % OHW);
        const int oh = rem / OW, ow = rem % OW;
        ih0 = oh * stride - pad;
        iw0 = ow * stride - pad;
        xn = x + (long long)n_img * C * H * W;
    }

    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < KK; k0 += BK) {
#pragma unroll
        for (int r = 0; r < 4; ++r) {  // weights: 64 x 16, coalesced along kk
            const int e = tid + 256 * r, wr = e >> 4, wc = e & 15;
            const int f = f0 + wr, kk = k0 + wc;
            Ws[wc][wr] = (f < F && kk < KK) ? to_f32(w[(long long)f * KK + kk]) : 0.0f;
        }
#pragma unroll
        for (int r = 0; r < 4; ++r) {  // im2col gather: 16 x 64, coalesced along pixels
            const int kr = lr + 4 * r, kk = k0 + kr;
            float val = 0.0f;
            if (p_ok && kk < KK) {
                const int c = kk / KS2, rem = kk - c * KS2;
                const int ki = rem / KS, kj = rem - ki * KS;
                const int ih = ih0 + ki, iw = iw0 + kj;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) val = to_f32(xn[((long long)c * H + ih) * W + iw]);
            }
            Xs[kr][lc] = val;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = Ws[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = Xs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const long long pc = p0 + tx + 16 * j;
        if (pc >= P) continue;
        const int n_img = (int)(pc / OHW), rem = (int)(pc % OHW);
        T* yn = y + (long long)n_img * F * OHW + rem;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int f = f0 + ty + 16 * i;
            if (f < F) yn[(long long)f * OHW] = from_f32<T>(acc[i][j]);
        }
    }
}
