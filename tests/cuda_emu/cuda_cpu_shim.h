// A CPU stand-in for the small part of CUDA that shaders/cuda/*.cu use, so the kernels' logic
// (indexing, tiling, edges, reductions, vector paths) can be checked against the numpy
// reference on a machine without a GPU. It is NOT a performance model and not a substitute
// for the GPU run (scripts/device_check.sh): memory-model, timing and PTX issues only show
// on real hardware.
//
// Execution model: each CUDA thread of a block is a fiber (ucontext) on ONE OS thread,
// blocks run one after another (so `__shared__` can be a function-local static). A fiber
// runs until it reaches a barrier: __syncthreads waits for every live thread of the block,
// __syncwarp and the shuffles (write, barrier, read, barrier) for every live lane of the warp.
// Threads that returned no longer count, as on the GPU. A barrier nobody can pass aborts
// with "deadlock". Deterministic and fast enough for tiny and edge-size configurations.
#pragma once
#define AT_CPU_EMULATION 1

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(8) uint2 {
    unsigned int x, y;
};
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
inline float2 make_float2(float a, float b) { return {a, b}; }

namespace at_emu {
enum State { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };
struct Fiber {
    ucontext_t ctx;
    dim3 tid;
    State st = RUNNABLE;
    unsigned long gen = 0;
};
inline std::vector<Fiber> g_fibers;
inline int g_cur = 0;
inline ucontext_t g_sched;
inline dim3 g_bid, g_bdim, g_gdim;
inline int g_live = 0, g_block_arrived = 0;
inline unsigned long g_block_gen = 0;
inline std::vector<int> g_warp_live, g_warp_arrived;
inline std::vector<unsigned long> g_warp_gen;
inline std::vector<std::array<float, 32>> g_warp_buf;
inline std::function<void()> g_body;

inline float half_to_float(unsigned short b) {
    _Float16 h;
    std::memcpy(&h, &b, 2);
    return (float)h;
}
inline unsigned short float_to_half(float v) {
    _Float16 h = (_Float16)v;  // round to nearest even
    unsigned short b;
    std::memcpy(&b, &h, 2);
    return b;
}

inline void release_if_complete(int w) {
    if (g_block_arrived > 0 && g_block_arrived == g_live) {
        g_block_arrived = 0;
        ++g_block_gen;
    }
    if (w >= 0 && g_warp_arrived[w] > 0 && g_warp_arrived[w] == g_warp_live[w]) {
        g_warp_arrived[w] = 0;
        ++g_warp_gen[w];
    }
}
inline void sync_block() {
    Fiber& f = g_fibers[g_cur];
    f.st = WAIT_BLOCK;
    f.gen = g_block_gen;
    ++g_block_arrived;
    release_if_complete(-1);
    swapcontext(&f.ctx, &g_sched);
}
inline void sync_warp() {
    Fiber& f = g_fibers[g_cur];
    const int w = g_cur / 32;
    f.st = WAIT_WARP;
    f.gen = g_warp_gen[w];
    ++g_warp_arrived[w];
    release_if_complete(w);
    swapcontext(&f.ctx, &g_sched);
}
inline float exchange(float v, int src) {
    const int w = g_cur / 32, lane = g_cur % 32;
    g_warp_buf[w][lane] = v;
    sync_warp();
    const float r = g_warp_buf[w][src & 31];
    sync_warp();
    return r;
}
inline void fiber_entry() {
    g_body();
    g_fibers[g_cur].st = DONE;
    --g_live;
    --g_warp_live[g_cur / 32];
    release_if_complete(g_cur / 32);
}  // returns to uc_link = the scheduler

template <typename... Args, std::size_t... I>
void call(void (*fn)(Args...), void** argv, std::index_sequence<I...>) {
    fn(*reinterpret_cast<std::remove_cv_t<std::remove_reference_t<Args>>*>(argv[I])...);
}

// Run `fn` over the grid like cudaLaunchKernel: argv[i] points at the i-th argument.
template <typename... Args>
void launch(void (*fn)(Args...), dim3 grid, dim3 block, void** argv) {
    constexpr std::size_t STACK = 256 * 1024;
    g_gdim = grid;
    g_bdim = block;
    const int nt = (int)(block.x * block.y * block.z);
    const int nw = (nt + 31) / 32;
    std::vector<char> stacks((std::size_t)nt * STACK);
    g_body = [&] { call(fn, argv, std::index_sequence_for<Args...>{}); };
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                g_bid = dim3{bx, by, bz};
                g_fibers.assign(nt, Fiber{});
                g_live = nt;
                g_block_arrived = 0;
                g_warp_live.assign(nw, 32);
                if (nt % 32) g_warp_live[nw - 1] = nt % 32;
                g_warp_arrived.assign(nw, 0);
                g_warp_gen.assign(nw, 0);
                g_warp_buf.assign(nw, {});
                for (int i = 0; i < nt; ++i) {
                    Fiber& f = g_fibers[i];
                    f.tid = dim3{(unsigned)(i % block.x), (unsigned)((i / block.x) % block.y),
                                 (unsigned)(i / (block.x * block.y))};
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = stacks.data() + (std::size_t)i * STACK;
                    f.ctx.uc_stack.ss_size = STACK;
                    f.ctx.uc_link = &g_sched;
                    makecontext(&f.ctx, (void (*)())fiber_entry, 0);
                }
                while (g_live > 0) {
                    bool progressed = false;
                    for (int i = 0; i < nt; ++i) {
                        Fiber& f = g_fibers[i];
                        const bool go = f.st == RUNNABLE || (f.st == WAIT_BLOCK && f.gen != g_block_gen) ||
                                        (f.st == WAIT_WARP && f.gen != g_warp_gen[i / 32]);
                        if (!go) continue;
                        f.st = RUNNABLE;
                        g_cur = i;
                        swapcontext(&g_sched, &f.ctx);
                        progressed = true;
                    }
                    if (!progressed) {
                        fprintf(stderr, "cuda_cpu_shim: deadlock in block (%u, %u, %u): a barrier that "
                                        "not every live thread reaches\n", bx, by, bz);
                        abort();
                    }
                }
            }
}
}  // namespace at_emu

#define threadIdx (at_emu::g_fibers[at_emu::g_cur].tid)
#define blockIdx (at_emu::g_bid)
#define blockDim (at_emu::g_bdim)
#define gridDim (at_emu::g_gdim)

inline void __syncthreads() { at_emu::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { at_emu::sync_warp(); }
inline float __shfl_xor_sync(unsigned, float v, int mask) { return at_emu::exchange(v, (at_emu::g_cur % 32) ^ mask); }
inline float __shfl_sync(unsigned, float v, int src) { return at_emu::exchange(v, src); }
inline float __int_as_float(long long i) {
    const std::uint32_t u = (std::uint32_t)i;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }  // default mode: half to even
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline int __dp4a(int a, int b, int c) {
    for (int i = 0; i < 4; ++i) c += (int)(std::int8_t)(a >> (8 * i)) * (int)(std::int8_t)(b >> (8 * i));
    return c;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
