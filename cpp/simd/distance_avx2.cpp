// AVX2 + FMA kernels. Compiled with -mavx2 -mfma; only called after the CPU
// was seen to support both.
#include <immintrin.h>

#include "simd/kernel_loops.h"

namespace fanns::simd {
namespace {

inline float horizontal_sum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

float l2sq_avx2(const float* a, const float* b, std::size_t dim) {
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    if (i + 8 <= dim) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        i += 8;
    }
    float total = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < dim; ++i) {
        const float d = a[i] - b[i];
        total += d * d;
    }
    return total;
}

float dot_avx2(const float* a, const float* b, std::size_t dim) {
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    if (i + 8 <= dim) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        i += 8;
    }
    float total = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < dim; ++i) total += a[i] * b[i];
    return total;
}

}  // namespace

const Kernels& avx2_kernels() {
    static const Kernels table = detail::make_kernels<l2sq_avx2, dot_avx2>(Level::avx2);
    return table;
}

}  // namespace fanns::simd
