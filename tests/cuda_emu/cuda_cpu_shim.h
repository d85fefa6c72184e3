// A CPU stand-in for the small part of CUDA that shaders/cuda/*.cu use, so the kernels' logic
// (indexing, tiling, edges, reductions, vector paths) can be checked against the numpy
// reference on a machine without a GPU. It is NOT a performance model and not a substitute
// for the GPU run (scripts/device_check.sh): memory-model, timing and PTX issues only show
// on real hardware.
//
// Execution model: one OS thread per CUDA thread of a block; blocks run one after another
// (so `__shared__` can be a function-local static). __syncthreads is a block barrier;
// warp shuffles and __syncwarp use a per-warp barrier and exchange buffer, so every lane of
// a warp must reach them together (as on the GPU with a full mask).
#pragma once
#define AT_CPU_EMULATION 1

#include <math.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
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
// A blocking (not spinning) barrier: with hundreds of threads on a few cores, spinning
// barriers starve the threads that still have work to do.
class Barrier {
  public:
    explicit Barrier(int n) : n_(n) {}
    void arrive_and_wait() {
        std::unique_lock<std::mutex> lock(m_);
        const unsigned long gen = gen_;
        if (++count_ == n_) {
            count_ = 0;
            ++gen_;
            cv_.notify_all();
        } else {
            cv_.wait(lock, [&] { return gen != gen_; });
        }
    }

  private:
    std::mutex m_;
    std::condition_variable cv_;
    int n_, count_ = 0;
    unsigned long gen_ = 0;
};

struct Block {
    std::unique_ptr<Barrier> block_bar;
    std::vector<std::unique_ptr<Barrier>> warp_bar;
    std::vector<std::array<float, 32>> warp_buf;
};
inline thread_local dim3 t_tid, t_bid;
inline thread_local int t_lin = 0;
inline dim3 g_bdim, g_gdim;
inline Block* g_block = nullptr;

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
inline float exchange(float v, int src) {
    const int w = t_lin / 32, lane = t_lin % 32;
    auto& buf = g_block->warp_buf[w];
    buf[lane] = v;
    g_block->warp_bar[w]->arrive_and_wait();
    const float r = buf[src & 31];
    g_block->warp_bar[w]->arrive_and_wait();
    return r;
}

template <typename... Args, std::size_t... I>
void call(void (*fn)(Args...), void** argv, std::index_sequence<I...>) {
    fn(*reinterpret_cast<std::remove_cv_t<std::remove_reference_t<Args>>*>(argv[I])...);
}

// Run `fn` over the grid like cudaLaunchKernel: argv[i] points at the i-th argument.
template <typename... Args>
void launch(void (*fn)(Args...), dim3 grid, dim3 block, void** argv) {
    g_gdim = grid;
    g_bdim = block;
    const int nt = (int)(block.x * block.y * block.z);
    const int nw = (nt + 31) / 32;
    Block blk;
    blk.block_bar = std::make_unique<Barrier>(nt);
    for (int w = 0; w < nw; ++w) blk.warp_bar.push_back(std::make_unique<Barrier>(std::min(32, nt - 32 * w)));
    blk.warp_buf.resize(nw);
    g_block = &blk;
    Barrier end_of_block(nt);
    std::vector<std::thread> threads;
    for (int lin = 0; lin < nt; ++lin) {
        threads.emplace_back([&, lin] {
            t_lin = lin;
            t_tid = dim3{(unsigned)(lin % block.x), (unsigned)((lin / block.x) % block.y),
                         (unsigned)(lin / (block.x * block.y))};
            for (unsigned bz = 0; bz < grid.z; ++bz)
                for (unsigned by = 0; by < grid.y; ++by)
                    for (unsigned bx = 0; bx < grid.x; ++bx) {
                        t_bid = dim3{bx, by, bz};
                        call(fn, argv, std::index_sequence_for<Args...>{});
                        end_of_block.arrive_and_wait();
                    }
        });
    }
    for (auto& t : threads) t.join();
    g_block = nullptr;
}
}  // namespace at_emu

#define threadIdx (at_emu::t_tid)
#define blockIdx (at_emu::t_bid)
#define blockDim (at_emu::g_bdim)
#define gridDim (at_emu::g_gdim)

inline void __syncthreads() { at_emu::g_block->block_bar->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { at_emu::g_block->warp_bar[at_emu::t_lin / 32]->arrive_and_wait(); }
inline float __shfl_xor_sync(unsigned, float v, int mask) { return at_emu::exchange(v, (at_emu::t_lin % 32) ^ mask); }
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
