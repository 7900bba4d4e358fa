// Distance kernels and their run-time dispatch.
//
// Every instruction-set level provides the same table of kernels. The table is
// chosen once (from CPUID, lowered by the FANNS_SIMD environment variable) and
// callers fetch it once per loop, never per vector.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fanns::simd {

enum class Level : int { scalar = 0, avx2 = 1, avx512 = 2 };

using PairKernel = float (*)(const float* a, const float* b, std::size_t dim);
// Distances from one query to `count` rows of a contiguous row-major matrix.
using RowsKernel = void (*)(const float* query, const float* rows, std::size_t count,
                            std::size_t dim, float* out);
// Distances from one query to the rows named by `ids` in a row-major matrix
// whose rows start `stride` floats apart (stride >= dim: rows borrowed from a
// strided array, such as a memory-mapped .fvecs file, are read in place).
using IdsKernel = void (*)(const float* query, const float* base, const std::uint32_t* ids,
                           std::size_t count, std::size_t dim, std::size_t stride, float* out);

// Distances from `nq` queries to the rows named by `ids` (rows as for
// IdsKernel): out[i * count + j] for queries[i] and row ids[j], equal bit
// for bit to the pair kernel's. Rows are scored a block at a time for four
// queries at once, so a group of queries sharing a filter reads each row
// from memory once, and each query's floats stay in cache for the block.
using TileKernel = void (*)(const float* const* queries, std::size_t nq, const float* base, std::size_t stride,
                            const std::uint32_t* ids, std::size_t count, std::size_t dim, float* out);

struct Kernels {
    Level level;
    PairKernel l2sq;  // sum of squared differences
    PairKernel dot;   // inner product
    RowsKernel l2sq_rows;
    RowsKernel dot_rows;
    IdsKernel l2sq_ids;
    IdsKernel dot_ids;
    TileKernel l2sq_tile;
    TileKernel dot_tile;
};

const char* level_name(Level level);
// Parses "scalar", "avx2", "avx512"; returns false for anything else.
bool parse_level(const char* text, Level* out);

// Highest level this CPU and this build both support.
Level best_level();
// Level in use: best_level(), lowered by FANNS_SIMD if set.
Level active_level();
// Kernels for a level; throws std::invalid_argument if not supported here.
const Kernels& kernels_for(Level level);
const Kernels& active_kernels();
// Whether a level was compiled in and runs on this CPU.
bool level_supported(Level level);

// Per-level tables, defined in their own translation units.
const Kernels& scalar_kernels();
#if defined(FANNS_WITH_AVX2)
const Kernels& avx2_kernels();
#endif
#if defined(FANNS_WITH_AVX512)
const Kernels& avx512_kernels();
#endif

}  // namespace fanns::simd
