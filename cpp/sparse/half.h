// IEEE 754 binary16 ("f16") encoding of the non-negative weights the forward
// index stores: half the bytes of f32 at about three decimal digits.
#pragma once

#include <cstdint>
#include <cstring>

namespace fanns::sparse {

inline std::uint32_t float_bits(float value) {
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return bits;
}

inline float bits_float(std::uint32_t bits) {
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

// Largest finite f16 value.
constexpr float kHalfMax = 65504.0f;

// Round a float to the nearest f16 (ties to even), as numpy's astype(float16)
// does. Magnitudes that round past kHalfMax become infinity and NaN stays NaN;
// callers reject both before encoding.
inline std::uint16_t float_to_half(float value) {
    const std::uint32_t bits = float_bits(value);
    const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    std::uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude >= 0x47800000u) {  // 65536 and above, infinity, NaN
        return static_cast<std::uint16_t>(sign | (magnitude > 0x7f800000u ? 0x7e00u : 0x7c00u));
    }
    if (magnitude < 0x38800000u) {  // below 2^-14: f16 subnormal or zero
        // Adding 0.5 lines the f16 subnormal unit (2^-24) up with the float's
        // last mantissa bit, so the FPU performs the round-to-nearest-even.
        const float shifted = bits_float(magnitude) + 0.5f;
        return static_cast<std::uint16_t>(sign | (float_bits(shifted) - float_bits(0.5f)));
    }
    const std::uint32_t odd = (magnitude >> 13) & 1u;
    magnitude += 0xc8000fffu + odd;  // rebias exponent by (15 - 127), round half to even
    return static_cast<std::uint16_t>(sign | (magnitude >> 13));
}

// Exact f16 -> float for finite values.
inline float half_to_float(std::uint16_t half) {
    const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
    const std::uint32_t rest = static_cast<std::uint32_t>(half & 0x7fffu) << 13;
    // Placing the f16 exponent and mantissa in a float and scaling by
    // 2^(127 - 15) rebiases normal numbers and normalises subnormal ones.
    const float magnitude = bits_float(rest) * 0x1p112f;
    return bits_float(float_bits(magnitude) | sign);
}

// The smallest f16 at least `value` (a finite value in [0, 65504]): an upper
// bound that is exact when `value` is an f16 value.
inline std::uint16_t half_at_least(float value) {
    const std::uint16_t h = float_to_half(value);
    return half_to_float(h) < value ? static_cast<std::uint16_t>(h + 1) : h;
}

// True if the f16 value is finite and not negative (what the index stores).
inline bool half_is_valid_weight(std::uint16_t half) {
    return (half & 0x8000u) == 0 && (half & 0x7c00u) != 0x7c00u;
}

}  // namespace fanns::sparse
