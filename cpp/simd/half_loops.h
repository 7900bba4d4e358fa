// Loops over many float16 rows built from one pair kernel. Included by each
// per-ISA translation unit so that the kernel inlines with that ISA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/half_distance.h"
#include "simd/ids_loop.h"

namespace fanns::simd::detail {

template <float (*Pair)(const float*, const std::uint16_t*, std::size_t)>
void half_ids_loop(const float* query, const std::uint16_t* base, std::size_t stride, const std::uint32_t* ids,
                   std::size_t count, std::size_t dim, float* out) {
    prefetched_ids_loop<std::uint16_t, Pair>(query, base, stride, ids, count, dim, out);
}

template <float (*L2)(const float*, const std::uint16_t*, std::size_t),
          float (*Dot)(const float*, const std::uint16_t*, std::size_t)>
HalfKernels make_half_kernels(Level level) {
    return HalfKernels{level, L2, Dot, half_ids_loop<L2>, half_ids_loop<Dot>};
}

}  // namespace fanns::simd::detail
