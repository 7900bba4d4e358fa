// Kernels over float16 rows (see store/half_rows.h): a float32 query against
// rows of IEEE binary16 values, each value widened to float32 and summed in
// float32, as the float kernels sum.
//
//   l2sq   sum (q_i - x_i)^2
//   dot    sum q_i x_i
//
// A NaN value in a row (the row store marks rows it cannot hold that way)
// makes the row's sum NaN. Chosen with the float kernels' level: fetch the
// table once per loop.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/distance.h"

namespace fanns::simd {

using HalfKernel = float (*)(const float* query, const std::uint16_t* row, std::size_t dim);
// One query against the rows `ids` of a block whose rows are `stride`
// values apart: out[j] = kernel(query, base + ids[j] * stride, dim).
using HalfIdsKernel = void (*)(const float* query, const std::uint16_t* base, std::size_t stride,
                               const std::uint32_t* ids, std::size_t count, std::size_t dim, float* out);

struct HalfKernels {
    Level level;
    HalfKernel l2sq;
    HalfKernel dot;
    HalfIdsKernel l2sq_ids;
    HalfIdsKernel dot_ids;
};

// Kernels for a level; throws std::invalid_argument if not supported here.
const HalfKernels& half_kernels_for(Level level);
const HalfKernels& active_half_kernels();

const HalfKernels& scalar_half_kernels();
#if defined(FANNS_WITH_AVX2)
const HalfKernels& avx2_half_kernels();
#endif
#if defined(FANNS_WITH_AVX512)
const HalfKernels& avx512_half_kernels();
#endif

}  // namespace fanns::simd
