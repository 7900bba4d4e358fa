// Loops over many vectors built from one pair kernel. Included by each
// per-ISA translation unit so that the pair kernel inlines with that ISA.
#pragma once

#include <algorithm>
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

// Four queries against one row: out[t] = Pair(q[t], row, dim), bit for bit.
using Tile4 = void (*)(const float* const* q, const float* row, std::size_t dim, float* out);

// A Tile4 made of the pair kernel, for levels without a wider one.
template <float (*Pair)(const float*, const float*, std::size_t)>
void pairwise_tile4(const float* const* q, const float* row, std::size_t dim, float* out) {
    for (std::size_t t = 0; t < 4; ++t) out[t] = Pair(q[t], row, dim);
}

// The TileKernel of a level. Rows a block at a time (kept in cache), and
// within a block four queries at a time against each row; the first four
// fetch the block's rows ahead of use.
template <float (*Pair)(const float*, const float*, std::size_t), Tile4 Tile>
void tile_loop(const float* const* queries, std::size_t nq, const float* base, std::size_t stride,
               const std::uint32_t* ids, std::size_t count, std::size_t dim, float* out) {
    constexpr std::size_t kBlockBytes = 96 * 1024;  // a block of rows stays in L2
    constexpr std::size_t kAhead = 3;
    const std::size_t row_bytes = dim * sizeof(float);
    const std::size_t block = std::max<std::size_t>(1, kBlockBytes / std::max<std::size_t>(row_bytes, 1));
    auto row = [&](std::size_t j) { return base + std::size_t(ids[j]) * stride; };
    auto fetch = [&](std::size_t j) {
        const char* r = reinterpret_cast<const char*>(row(j));
        for (std::size_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(r + b);
    };
    const std::size_t full = nq / 4 * 4;
    for (std::size_t start = 0; start < count; start += block) {
        const std::size_t end = std::min(count, start + block);
        for (std::size_t k = 0; k < nq; k += 4) {
            const bool first = k == 0;
            if (first) {
                for (std::size_t j = start; j < end && j < start + kAhead; ++j) fetch(j);
            }
            for (std::size_t j = start; j < end; ++j) {
                if (first && j + kAhead < end) fetch(j + kAhead);
                if (k < full) {
                    float d[4];
                    Tile(queries + k, row(j), dim, d);
                    for (std::size_t t = 0; t < 4; ++t) out[(k + t) * count + j] = d[t];
                } else {
                    for (std::size_t i = k; i < nq; ++i) out[i * count + j] = Pair(queries[i], row(j), dim);
                }
            }
        }
    }
}

template <float (*L2)(const float*, const float*, std::size_t),
          float (*Dot)(const float*, const float*, std::size_t), Tile4 L2Tile = pairwise_tile4<L2>,
          Tile4 DotTile = pairwise_tile4<Dot>>
Kernels make_kernels(Level level) {
    return Kernels{level,        L2,           Dot,
                   rows_loop<L2>, rows_loop<Dot>, ids_loop<L2>,
                   ids_loop<Dot>, tile_loop<L2, L2Tile>, tile_loop<Dot, DotTile>};
}

}  // namespace fanns::simd::detail
