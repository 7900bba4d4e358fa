// Comparisons of a few floats against one bound, at the baseline ISA of
// each target (SSE2 on x86-64, NEON on aarch64, plain C++ elsewhere): a
// scan tests every score it makes, so this runs once per scored row.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace fanns::simd {

// Bit t set where values[t] <= bound, for t < 8 (NaN sets no bit).
inline unsigned at_most8(const float* values, float bound) {
#if defined(__SSE2__)
    const __m128 b = _mm_set1_ps(bound);
    const unsigned lo = unsigned(_mm_movemask_ps(_mm_cmple_ps(_mm_loadu_ps(values), b)));
    const unsigned hi = unsigned(_mm_movemask_ps(_mm_cmple_ps(_mm_loadu_ps(values + 4), b)));
    return lo | (hi << 4);
#elif defined(__aarch64__)
    const float32x4_t b = vdupq_n_f32(bound);
    const uint32x4_t weights = {1u, 2u, 4u, 8u};
    const uint32x4_t lo = vandq_u32(vcleq_f32(vld1q_f32(values), b), weights);
    const uint32x4_t hi = vandq_u32(vcleq_f32(vld1q_f32(values + 4), b), weights);
    return unsigned(vaddvq_u32(lo)) | (unsigned(vaddvq_u32(hi)) << 4);
#else
    unsigned bits = 0;
    for (std::size_t t = 0; t < 8; ++t) bits |= unsigned(values[t] <= bound) << t;
    return bits;
#endif
}

}  // namespace fanns::simd
