// Shared device helpers of the accel_toolkit CUDA kernels (shaders/cuda/*.cu).
//
// The Python backend inlines this file where a kernel says #include "common.cuh", so the
// source string CuPy compiles (and caches) is self-contained. No CUDA headers are needed:
// float16 is stored as raw IEEE half bits (half_t) and converted with the cvt PTX
// instructions that cuda_fp16.h uses, so NVRTC never has to find cuda_fp16.h.
// All arithmetic is float32; float16 is a storage format (loads widen, stores round once).
#pragma once

struct __align__(2) half_t {
    unsigned short bits;
};

#define AT_NEG_INF __int_as_float(0xff800000)
#define AT_FULL_MASK 0xffffffffu

#ifndef AT_CPU_EMULATION
__device__ __forceinline__ float half_bits_to_f32(unsigned short b) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(b));
    return f;
}

__device__ __forceinline__ unsigned short f32_to_half_bits(float v) {  // round to nearest even
    unsigned short b;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(b) : "f"(v));
    return b;
}
#else  // tests/cuda_emu runs these sources on the CPU (logic check without a GPU)
__device__ __forceinline__ float half_bits_to_f32(unsigned short b) { return at_emu::half_to_float(b); }
__device__ __forceinline__ unsigned short f32_to_half_bits(float v) { return at_emu::float_to_half(v); }
#endif

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(half_t v) { return half_bits_to_f32(v.bits); }

template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ half_t from_f32<half_t>(float v) {
    half_t h;
    h.bits = f32_to_half_bits(v);
    return h;
}

// ---- vector loads and stores: VW consecutive elements (VW in {1, 2, 4}) ----------------
// Callers guarantee that p is aligned to VW elements.
template <typename T, int VW>
__device__ __forceinline__ void load_vec(const T* __restrict__ p, float (&out)[VW]) {
    if constexpr (sizeof(T) == 4) {
        if constexpr (VW == 4) {
            const float4 v = *reinterpret_cast<const float4*>(p);
            out[0] = v.x; out[1] = v.y; out[2] = v.z; out[3] = v.w;
        } else if constexpr (VW == 2) {
            const float2 v = *reinterpret_cast<const float2*>(p);
            out[0] = v.x; out[1] = v.y;
        } else {
            out[0] = to_f32(p[0]);
        }
    } else {
        if constexpr (VW == 4) {
            const uint2 v = *reinterpret_cast<const uint2*>(p);
            out[0] = half_bits_to_f32((unsigned short)(v.x & 0xffffu));
            out[1] = half_bits_to_f32((unsigned short)(v.x >> 16));
            out[2] = half_bits_to_f32((unsigned short)(v.y & 0xffffu));
            out[3] = half_bits_to_f32((unsigned short)(v.y >> 16));
        } else if constexpr (VW == 2) {
            const unsigned int v = *reinterpret_cast<const unsigned int*>(p);
            out[0] = half_bits_to_f32((unsigned short)(v & 0xffffu));
            out[1] = half_bits_to_f32((unsigned short)(v >> 16));
        } else {
            out[0] = to_f32(p[0]);
        }
    }
}

template <typename T, int VW>
__device__ __forceinline__ void store_vec(T* __restrict__ p, const float (&v)[VW]) {
    if constexpr (sizeof(T) == 4) {
        if constexpr (VW == 4) {
            *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
        } else if constexpr (VW == 2) {
            *reinterpret_cast<float2*>(p) = make_float2(v[0], v[1]);
        } else {
            p[0] = from_f32<T>(v[0]);
        }
    } else {
        if constexpr (VW == 4) {
            uint2 u;
            u.x = (unsigned int)f32_to_half_bits(v[0]) | ((unsigned int)f32_to_half_bits(v[1]) << 16);
            u.y = (unsigned int)f32_to_half_bits(v[2]) | ((unsigned int)f32_to_half_bits(v[3]) << 16);
            *reinterpret_cast<uint2*>(p) = u;
        } else if constexpr (VW == 2) {
            *reinterpret_cast<unsigned int*>(p) =
                (unsigned int)f32_to_half_bits(v[0]) | ((unsigned int)f32_to_half_bits(v[1]) << 16);
        } else {
            p[0] = from_f32<T>(v[0]);
        }
    }
}

// ---- reductions ----------------------------------------------------------------------
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(AT_FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(AT_FULL_MASK, v, o));
    return v;
}

// Sum / max over a group of GROUP threads that own one row. GROUP == 32: one warp (no
// shared memory, no barrier). GROUP > 32: the whole block (GROUP == blockDim.x), through
// `scratch` (>= 32 floats); every thread of the block must call it. The leading barrier
// lets consecutive calls reuse the same scratch.
template <int GROUP>
__device__ __forceinline__ float group_sum(float v, float* scratch) {
    v = warp_sum(v);
    if constexpr (GROUP == 32) {
        return v;
    } else {
        constexpr int WARPS = GROUP / 32;
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        __syncthreads();
        if (lane == 0) scratch[warp] = v;
        __syncthreads();
        return warp_sum(lane < WARPS ? scratch[lane] : 0.0f);
    }
}

template <int GROUP>
__device__ __forceinline__ float group_max(float v, float* scratch) {
    v = warp_max(v);
    if constexpr (GROUP == 32) {
        return v;
    } else {
        constexpr int WARPS = GROUP / 32;
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        __syncthreads();
        if (lane == 0) scratch[warp] = v;
        __syncthreads();
        return warp_max(lane < WARPS ? scratch[lane] : AT_NEG_INF);
    }
}

// ---- math ----------------------------------------------------------------------------
// Exact (erf) GELU, as accel_toolkit.kernels defines it.
__device__ __forceinline__ float gelu_erf(float x) {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
}
