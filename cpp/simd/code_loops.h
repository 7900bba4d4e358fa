// Loops over many code rows built from one code kernel. Included by each
// per-ISA translation unit so that the kernel inlines with that ISA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/code_distance.h"

namespace fanns::simd::detail {

// Asks for a scattered row's bytes ahead of use (the float row term sits at
// the end of the stride).
inline void fetch_code_row(const std::uint8_t* row, std::size_t stride) {
    const char* bytes = reinterpret_cast<const char*>(row);
    for (std::size_t b = 0; b < stride; b += 64) __builtin_prefetch(bytes + b);
    __builtin_prefetch(bytes + stride - 1);
}

template <std::int32_t (*Dot)(const std::int8_t*, const std::uint8_t*, std::size_t)>
void code_ids_loop(const std::int8_t* query, const std::uint8_t* base, std::size_t stride,
                   const std::uint32_t* ids, std::size_t count, std::size_t dim, std::int32_t* out) {
    // Rows are scattered: fetch the row kAhead places ahead while this one is scored.
    constexpr std::size_t kAhead = 3;
    for (std::size_t j = 0; j < kAhead && j < count; ++j) fetch_code_row(base + std::size_t(ids[j]) * stride, stride);
    for (std::size_t i = 0; i < count; ++i) {
        if (i + kAhead < count) fetch_code_row(base + std::size_t(ids[i + kAhead]) * stride, stride);
        out[i] = Dot(query, base + std::size_t(ids[i]) * stride, dim);
    }
}

// The tile kernel of a level: Tile(q, query_stride, r0, r1, dims, sums) adds
// into sums[2 * k + r] the products of query k (of four) and row r (of two)
// over the first `dims` bytes, a multiple of Width; the rest of a row is
// summed here. Rows are read in order, each once for every query: with many
// queries the row is fetched while the previous ones are scored.
template <std::int32_t (*Dot)(const std::int8_t*, const std::uint8_t*, std::size_t),
          void (*Tile)(const std::int8_t*, std::size_t, const std::uint8_t*, const std::uint8_t*, std::size_t,
                       std::int32_t*),
          std::size_t Width>
void code_tile_loop(const std::int8_t* queries, std::size_t query_stride, std::size_t nq, const std::uint8_t* base,
                    std::size_t stride, const std::uint32_t* ids, std::size_t count, std::size_t dim,
                    std::int32_t* out) {
    if (nq == 0) return;
    // Few queries score a row quickly: fetch further ahead.
    const std::size_t ahead = nq >= 4 ? 4 : 8;
    const std::size_t main_dims = dim / Width * Width;
    const std::size_t full_tiles = nq / 4 * 4;
    for (std::size_t j = 0; j < ahead && j < count; ++j) fetch_code_row(base + std::size_t(ids[j]) * stride, stride);
    for (std::size_t j = 0; j < count; j += 2) {
        const std::size_t rows = count - j >= 2 ? 2 : 1;
        for (std::size_t a = j + ahead; a < j + ahead + rows && a < count; ++a) {
            fetch_code_row(base + std::size_t(ids[a]) * stride, stride);
        }
        const std::uint8_t* r0 = base + std::size_t(ids[j]) * stride;
        const std::uint8_t* r1 = rows == 2 ? base + std::size_t(ids[j + 1]) * stride : r0;
        for (std::size_t k = 0; k < full_tiles; k += 4) {
            std::int32_t sums[8] = {};
            const std::int8_t* q = queries + k * query_stride;
            Tile(q, query_stride, r0, r1, main_dims, sums);
            for (std::size_t t = 0; t < 4; ++t) {
                const std::int8_t* qt = q + t * query_stride;
                for (std::size_t d = main_dims; d < dim; ++d) {
                    sums[2 * t] += std::int32_t(qt[d]) * std::int32_t(r0[d]);
                    sums[2 * t + 1] += std::int32_t(qt[d]) * std::int32_t(r1[d]);
                }
                out[(k + t) * count + j] = sums[2 * t];
                if (rows == 2) out[(k + t) * count + j + 1] = sums[2 * t + 1];
            }
        }
        for (std::size_t k = full_tiles; k < nq; ++k) {
            const std::int8_t* q = queries + k * query_stride;
            out[k * count + j] = Dot(q, r0, dim);
            if (rows == 2) out[k * count + j + 1] = Dot(q, r1, dim);
        }
    }
}

// A tile made of the one-pair kernel, for levels without a wider one.
template <std::int32_t (*Dot)(const std::int8_t*, const std::uint8_t*, std::size_t)>
void pairwise_tile(const std::int8_t* q, std::size_t query_stride, const std::uint8_t* r0, const std::uint8_t* r1,
                   std::size_t dims, std::int32_t* sums) {
    for (std::size_t k = 0; k < 4; ++k) {
        sums[2 * k] += Dot(q + k * query_stride, r0, dims);
        sums[2 * k + 1] += Dot(q + k * query_stride, r1, dims);
    }
}

template <std::int32_t (*Dot)(const std::int8_t*, const std::uint8_t*, std::size_t),
          void (*Tile)(const std::int8_t*, std::size_t, const std::uint8_t*, const std::uint8_t*, std::size_t,
                       std::int32_t*) = pairwise_tile<Dot>,
          std::size_t Width = 1>
CodeKernels make_code_kernels(Level level) {
    return CodeKernels{level, Dot, code_ids_loop<Dot>, code_tile_loop<Dot, Tile, Width>};
}

}  // namespace fanns::simd::detail
