// attention: O = softmax(Q K^T / sqrt(d) [+ causal mask]) V for Q, K, V, O of shape
// (batch * heads, seq, d), row-major; causal masks keys j > i for query i.
//
// attention_rows<T, DPL>: a simple, correct tiled kernel (not FlashAttention-fast). One warp
//   per query row, 4 rows per 128-thread block; keys are taken 32 at a time (one key per
//   lane computes its score q . k_j against the scaled query held in shared memory), then
//   an online softmax (running max m, running sum l) rescales the output accumulator, which
//   each lane holds for dims lane + 32 * t (t < DPL, DPL * 32 >= d). Probabilities are
//   broadcast with shuffles while V rows are read coalesced.
//   Grid (batch * heads, ceil(seq / 4)), 128 threads; d <= 32 * DPL <= 512.
#include "common.cuh"

template <typename T, int DPL>
__global__ void __launch_bounds__(128)
attention_rows(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
               T* __restrict__ o, int seq, int d, float scale, int causal) {
    __shared__ float qs[4][32 * DPL];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int i = blockIdx.y * 4 + warp;
    if (i >= seq) return;  // no block-wide barrier below: idle warps may leave
    const long long base = (long long)blockIdx.x * seq * d;
    const T* qi = q + base + (long long)i * d;
    const T* kb = k + base;
    const T* vb = v + base;
    for (int c = lane; c < d; c += 32) qs[warp][c] = to_f32(qi[c]) * scale;
    __syncwarp();

    const int kend = causal ? i + 1 : seq;
    float m = AT_NEG_INF, l = 0.0f;
    float acc[DPL];
#pragma unroll
    for (int t = 0; t < DPL; ++t) acc[t] = 0.0f;

    for (int j0 = 0; j0 < kend; j0 += 32) {
        const int j = j0 + lane;
        float s = AT_NEG_INF;
        if (j < kend) {
            const T* kj = kb + (long long)j * d;
            float dot = 0.0f;
            for (int c = 0; c < d; ++c) dot = fmaf(qs[warp][c], to_f32(kj[c]), dot);
            s = dot;
        }
        const float m_new = fmaxf(m, warp_max(s));  // finite: key j0 < kend is valid
        const float p = (j < kend) ? expf(s - m_new) : 0.0f;
        const float corr = expf(m - m_new);  // 0 on the first tile (m = -inf)
        l = l * corr + warp_sum(p);
#pragma unroll
        for (int t = 0; t < DPL; ++t) acc[t] *= corr;
        const int cnt = min(32, kend - j0);
        for (int jj = 0; jj < cnt; ++jj) {
            const float pj = __shfl_sync(AT_FULL_MASK, p, jj);
            const T* vj = vb + (long long)(j0 + jj) * d;
#pragma unroll
            for (int t = 0; t < DPL; ++t) {
                const int c = lane + 32 * t;
                if (c < d) acc[t] = fmaf(pj, to_f32(vj[c]), acc[t]);
            }
        }
        m = m_new;
    }
    const float inv = 1.0f / l;
    T* oi = o + base + (long long)i * d;
#pragma unroll
    for (int t = 0; t < DPL; ++t) {
        const int c = lane + 32 * t;
        if (c < d) oi[c] = from_f32<T>(acc[t] * inv);
    }
}
