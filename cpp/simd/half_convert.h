// Portable IEEE binary16 <-> float32 conversions: exact widening (infinity
// and NaN included), and rounding to nearest, ties to even.
#pragma once

#include <cstdint>
#include <cstring>

#include "sparse/half.h"

namespace fanns::simd {

// Exact f16 -> float for every f16 value. Branch-free apart from a select,
// so that loops over rows vectorise at the baseline ISA.
inline float half_to_float(std::uint16_t half) {
    const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
    const std::uint32_t rest = static_cast<std::uint32_t>(half & 0x7fffu) << 13;
    // Finite values: the f16 exponent and mantissa placed in a float and
    // scaled by 2^(127 - 15) (normalises subnormals too).
    std::uint32_t bits = sparse::float_bits(sparse::bits_float(rest) * 0x1p112f);
    // Infinity and NaN keep an all-ones exponent (and NaN its payload).
    if ((half & 0x7c00u) == 0x7c00u) bits = 0x7f800000u | rest;
    return sparse::bits_float(bits | sign);
}

// float -> nearest f16, ties to even; past the f16 range: infinity.
inline std::uint16_t float_to_half(float value) { return sparse::float_to_half(value); }

}  // namespace fanns::simd
