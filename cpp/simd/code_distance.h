// Kernels over 8-bit codes (see quantized_rows.h): a query prepared as int16
// values against a row of uint8 codes, summed exactly in int32.
//
//   l2sq_u8  sum (q_i - c_i)^2
//   dot_u8   sum q_i * c_i
//
// Callers keep every partial sum inside int32 by bounding the query values
// for the dimension (QuantizedRows does). Chosen with the float kernels'
// level: fetch the table once per loop.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/distance.h"

namespace fanns::simd {

using CodeKernel = std::int32_t (*)(const std::int16_t* query, const std::uint8_t* codes, std::size_t dim);

struct CodeKernels {
    Level level;
    CodeKernel l2sq_u8;
    CodeKernel dot_u8;
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
