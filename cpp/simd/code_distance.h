// Kernels over 8-bit codes (see quantized_rows.h): a prepared query against a
// row of uint8 codes, summed exactly in int32.
//
//   dot_u8   sum q_i * c_i  with int8 query values in [-kDotQueryBound,
//                           kDotQueryBound], so that two products fit in
//                           int16 (the multiply-add of unsigned by signed
//                           bytes saturates there)
//   dot_u8_ids   one query against rows picked by id
//   dot_u8_tile  several queries against rows picked by id, each row read
//                once for all of them (two rows and four queries at a time
//                in registers): a group of queries sharing a filter reads
//                the passing rows once, and computes per row
//
// Chosen with the float kernels' level: fetch the table once per loop.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/distance.h"

namespace fanns::simd {

constexpr int kDotQueryBound = 64;

using CodeDotKernel = std::int32_t (*)(const std::int8_t* query, const std::uint8_t* codes, std::size_t dim);
// dot_u8 of one query against the rows `ids` of a code block whose rows are
// `stride` bytes apart: out[j] = sum_i query[i] * base[ids[j] * stride + i].
using CodeDotIdsKernel = void (*)(const std::int8_t* query, const std::uint8_t* base, std::size_t stride,
                                  const std::uint32_t* ids, std::size_t count, std::size_t dim,
                                  std::int32_t* out);

// dot_u8 of `nq` queries (query i at queries + i * query_stride) against the
// rows `ids`: out[i * count + j] = sum_d query_i[d] * base[ids[j] * stride + d].
using CodeDotTileKernel = void (*)(const std::int8_t* queries, std::size_t query_stride, std::size_t nq,
                                   const std::uint8_t* base, std::size_t stride, const std::uint32_t* ids,
                                   std::size_t count, std::size_t dim, std::int32_t* out);

struct CodeKernels {
    Level level;
    CodeDotKernel dot_u8;
    CodeDotIdsKernel dot_u8_ids;
    CodeDotTileKernel dot_u8_tile;
};

// Kernels for a level; throws std::invalid_argument if not supported here.
const CodeKernels& code_kernels_for(Level level);
const CodeKernels& active_code_kernels();

const CodeKernels& scalar_code_kernels();
#if defined(FANNS_WITH_AVX2)
const CodeKernels& avx2_code_kernels();
#endif
#if defined(FANNS_WITH_AVX512)
const CodeKernels& avx512_code_kernels();
#endif

}  // namespace fanns::simd
