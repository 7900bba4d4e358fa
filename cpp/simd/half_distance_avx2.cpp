// AVX2 float16-row kernels: eight f16 values widened at a time with F16C
// (vcvtph2ps), then summed with FMA. Compiled with -mavx2 -mfma -mf16c; only
// called after the CPU was seen to support all three.
#include <immintrin.h>

#include "simd/half_loops.h"

namespace fanns::simd {
namespace {

inline float horizontal_sum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v);
    lo = _mm_add_ps(lo, _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

inline __m256 widen(const std::uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

float l2sq_half_avx2(const float* q, const std::uint16_t* x, std::size_t dim) {
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), widen(x + i));
        const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 8), widen(x + i + 8));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    if (i + 8 <= dim) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), widen(x + i));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        i += 8;
    }
    float total = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < dim; ++i) {
        const float d = q[i] - _cvtsh_ss(x[i]);
        total += d * d;
    }
    return total;
}

float dot_half_avx2(const float* q, const std::uint16_t* x, std::size_t dim) {
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), widen(x + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), widen(x + i + 8), acc1);
    }
    if (i + 8 <= dim) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), widen(x + i), acc0);
        i += 8;
    }
    float total = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < dim; ++i) total += q[i] * _cvtsh_ss(x[i]);
    return total;
}

}  // namespace

const HalfKernels& avx2_half_kernels() {
    static const HalfKernels table = detail::make_half_kernels<l2sq_half_avx2, dot_half_avx2>(Level::avx2);
    return table;
}

}  // namespace fanns::simd
