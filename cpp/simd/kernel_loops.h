// Loops over many vectors built from one pair kernel. Included by each
// per-ISA translation unit so that the pair kernel inlines with that ISA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/distance.h"
#include "simd/ids_loop.h"

namespace fanns::simd::detail {

template <float (*Pair)(const float*, const float*, std::size_t)>
void rows_loop(const float* query, const float* rows, std::size_t count, std::size_t dim,
               float* out) {
    for (std::size_t i = 0; i < count; ++i) out[i] = Pair(query, rows + i * dim, dim);
}

template <float (*Pair)(const float*, const float*, std::size_t)>
void ids_loop(const float* query, const float* base, const std::uint32_t* ids, std::size_t count,
              std::size_t dim, std::size_t stride, float* out) {
    prefetched_ids_loop<float, Pair>(query, base, stride, ids, count, dim, out);
}

template <float (*L2)(const float*, const float*, std::size_t),
          float (*Dot)(const float*, const float*, std::size_t)>
Kernels make_kernels(Level level) {
    return Kernels{level,           L2,           Dot, rows_loop<L2>, rows_loop<Dot>,
                   ids_loop<L2>, ids_loop<Dot>};
}

}  // namespace fanns::simd::detail
