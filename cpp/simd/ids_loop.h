// The one loop over rows picked by id, whatever a row's element type: used by
// the float and float16 kernel tables of every ISA.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fanns::simd::detail {

// out[i] = Pair(query, row ids[i]); rows are `stride` elements apart.
template <typename Row, float (*Pair)(const float*, const Row*, std::size_t)>
inline void prefetched_ids_loop(const float* query, const Row* base, std::size_t stride, const std::uint32_t* ids,
                                std::size_t count, std::size_t dim, float* out) {
    // Rows are scattered: fetch every cache line of the row kAhead places
    // ahead while this one is scored, so a scan runs at memory bandwidth
    // rather than memory latency.
    constexpr std::size_t kAhead = 3;
    const std::size_t bytes = dim * sizeof(Row);
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

}  // namespace fanns::simd::detail
