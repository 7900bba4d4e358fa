// Loops over many vectors built from one pair kernel. Included by each
// per-ISA translation unit so that the pair kernel inlines with that ISA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/distance.h"

namespace fanns::simd::detail {

template <float (*Pair)(const float*, const float*, std::size_t)>
void rows_loop(const float* query, const float* rows, std::size_t count, std::size_t dim,
               float* out) {
    for (std::size_t i = 0; i < count; ++i) out[i] = Pair(query, rows + i * dim, dim);
}

template <float (*Pair)(const float*, const float*, std::size_t)>
void ids_loop(const float* query, const float* base, const std::uint32_t* ids, std::size_t count,
              std::size_t dim, std::size_t stride, float* out) {
    // Rows are scattered: fetch every cache line of the row kAhead places
    // ahead while this one is scored, so a scan runs at memory bandwidth
    // rather than memory latency.
    constexpr std::size_t kAhead = 3;
    const std::size_t bytes = dim * sizeof(float);
    auto fetch = [&](std::size_t j) {
        const char* row = reinterpret_cast<const char*>(base + std::size_t(ids[j]) * stride);
        for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b);
    };
    for (std::size_t j = 0; j < kAhead && j < count; ++j) fetch(j);
    for (std::size_t i = 0; i < count; ++i) {
        if (i + kAhead < count) fetch(i + kAhead);
        out[i] = Pair(query, base + std::size_t(ids[i]) * stride, dim);
    }
}

template <float (*L2)(const float*, const float*, std::size_t),
          float (*Dot)(const float*, const float*, std::size_t)>
Kernels make_kernels(Level level) {
    return Kernels{level,           L2,           Dot, rows_loop<L2>, rows_loop<Dot>,
                   ids_loop<L2>, ids_loop<Dot>};
}

}  // namespace fanns::simd::detail
