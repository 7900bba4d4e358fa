// Loops over many code rows built from one code kernel. Included by each
// per-ISA translation unit so that the kernel inlines with that ISA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/code_distance.h"

namespace fanns::simd::detail {

template <std::int32_t (*Dot)(const std::int8_t*, const std::uint8_t*, std::size_t)>
void code_ids_loop(const std::int8_t* query, const std::uint8_t* base, std::size_t stride,
                   const std::uint32_t* ids, std::size_t count, std::size_t dim, std::int32_t* out) {
    // Rows are scattered: fetch the row kAhead places ahead while this one
    // is scored (the float row term sits at the end of the stride).
    constexpr std::size_t kAhead = 3;
    auto fetch = [&](std::size_t j) {
        const char* row = reinterpret_cast<const char*>(base + std::size_t(ids[j]) * stride);
        for (std::size_t b = 0; b < stride; b += 64) __builtin_prefetch(row + b);
        __builtin_prefetch(row + stride - 1);
    };
    for (std::size_t j = 0; j < kAhead && j < count; ++j) fetch(j);
    for (std::size_t i = 0; i < count; ++i) {
        if (i + kAhead < count) fetch(i + kAhead);
        out[i] = Dot(query, base + std::size_t(ids[i]) * stride, dim);
    }
}

template <std::int32_t (*Dot)(const std::int8_t*, const std::uint8_t*, std::size_t)>
CodeKernels make_code_kernels(Level level) {
    return CodeKernels{level, Dot, code_ids_loop<Dot>};
}

}  // namespace fanns::simd::detail
