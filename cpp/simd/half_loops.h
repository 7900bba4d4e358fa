// Loops over many float16 rows built from one pair kernel. Included by each
// per-ISA translation unit so that the kernel inlines with that ISA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/half_distance.h"

namespace fanns::simd::detail {

template <float (*Pair)(const float*, const std::uint16_t*, std::size_t)>
void half_ids_loop(const float* query, const std::uint16_t* base, std::size_t stride, const std::uint32_t* ids,
                   std::size_t count, std::size_t dim, float* out) {
    // Rows are scattered: fetch every cache line of the row kAhead places
    // ahead while this one is scored.
    constexpr std::size_t kAhead = 3;
    const std::size_t bytes = dim * sizeof(std::uint16_t);
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

template <float (*L2)(const float*, const std::uint16_t*, std::size_t),
          float (*Dot)(const float*, const std::uint16_t*, std::size_t)>
HalfKernels make_half_kernels(Level level) {
    return HalfKernels{level, L2, Dot, half_ids_loop<L2>, half_ids_loop<Dot>};
}

}  // namespace fanns::simd::detail
