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

// The end of l2sq from dimension i on (a multiple of 16), given the two
// accumulators of the 16-wide steps before it: the pair and tile kernels
// share it, so they sum in the same order and agree bit for bit.
inline float l2sq_finish(__m256 acc0, __m256 acc1, const float* a, const float* b, std::size_t i,
                         std::size_t dim) {
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

inline float dot_finish(__m256 acc0, __m256 acc1, const float* a, const float* b, std::size_t i, std::size_t dim) {
    if (i + 8 <= dim) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        i += 8;
    }
    float total = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < dim; ++i) total += a[i] * b[i];
    return total;
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
    return l2sq_finish(acc0, acc1, a, b, i, dim);
}

float dot_avx2(const float* a, const float* b, std::size_t dim) {
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    return dot_finish(acc0, acc1, a, b, i, dim);
}

// Four queries against one row, each as l2sq_avx2(q[t], row): each 16
// floats of the row are loaded once for the four.
void l2sq_tile4_avx2(const float* const* q, const float* row, std::size_t dim, float* out) {
    const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;  // dims i .. i + 8
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;                    // dims i + 8 .. i + 16
    auto step = [](__m256 acc, const float* p, __m256 x) {
        const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(p), x);
        return _mm256_fmadd_ps(d, d, acc);
    };
    std::size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        const __m256 x = _mm256_loadu_ps(row + i), y = _mm256_loadu_ps(row + i + 8);
        a0 = step(a0, q0 + i, x);
        b0 = step(b0, q0 + i + 8, y);
        a1 = step(a1, q1 + i, x);
        b1 = step(b1, q1 + i + 8, y);
        a2 = step(a2, q2 + i, x);
        b2 = step(b2, q2 + i + 8, y);
        a3 = step(a3, q3 + i, x);
        b3 = step(b3, q3 + i + 8, y);
    }
    out[0] = l2sq_finish(a0, b0, q0, row, i, dim);
    out[1] = l2sq_finish(a1, b1, q1, row, i, dim);
    out[2] = l2sq_finish(a2, b2, q2, row, i, dim);
    out[3] = l2sq_finish(a3, b3, q3, row, i, dim);
}

// Four queries against one row, each as dot_avx2(q[t], row).
void dot_tile4_avx2(const float* const* q, const float* row, std::size_t dim, float* out) {
    const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    auto step = [](__m256 acc, const float* p, __m256 x) { return _mm256_fmadd_ps(_mm256_loadu_ps(p), x, acc); };
    std::size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        const __m256 x = _mm256_loadu_ps(row + i), y = _mm256_loadu_ps(row + i + 8);
        a0 = step(a0, q0 + i, x);
        b0 = step(b0, q0 + i + 8, y);
        a1 = step(a1, q1 + i, x);
        b1 = step(b1, q1 + i + 8, y);
        a2 = step(a2, q2 + i, x);
        b2 = step(b2, q2 + i + 8, y);
        a3 = step(a3, q3 + i, x);
        b3 = step(b3, q3 + i + 8, y);
    }
    out[0] = dot_finish(a0, b0, q0, row, i, dim);
    out[1] = dot_finish(a1, b1, q1, row, i, dim);
    out[2] = dot_finish(a2, b2, q2, row, i, dim);
    out[3] = dot_finish(a3, b3, q3, row, i, dim);
}

}  // namespace

const Kernels& avx2_kernels() {
    static const Kernels table = detail::make_kernels<l2sq_avx2, dot_avx2, l2sq_tile4_avx2, dot_tile4_avx2>(Level::avx2);
    return table;
}

}  // namespace fanns::simd
