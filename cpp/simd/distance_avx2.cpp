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

// Four queries against one row, out[t] = Finish(accumulators of q[t]): each
// 16 floats of the row are loaded once for the four, and each query sums in
// two accumulators as the pair kernels do (Step adds 8 dimensions of one
// query into one accumulator).
template <__m256 (*Step)(__m256, const float*, __m256),
          float (*Finish)(__m256, __m256, const float*, const float*, std::size_t, std::size_t)>
void tile4_avx2(const float* const* q, const float* row, std::size_t dim, float* out) {
    const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;  // dims i .. i + 8
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;                    // dims i + 8 .. i + 16
    std::size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        const __m256 x = _mm256_loadu_ps(row + i), y = _mm256_loadu_ps(row + i + 8);
        a0 = Step(a0, q0 + i, x);
        b0 = Step(b0, q0 + i + 8, y);
        a1 = Step(a1, q1 + i, x);
        b1 = Step(b1, q1 + i + 8, y);
        a2 = Step(a2, q2 + i, x);
        b2 = Step(b2, q2 + i + 8, y);
        a3 = Step(a3, q3 + i, x);
        b3 = Step(b3, q3 + i + 8, y);
    }
    out[0] = Finish(a0, b0, q0, row, i, dim);
    out[1] = Finish(a1, b1, q1, row, i, dim);
    out[2] = Finish(a2, b2, q2, row, i, dim);
    out[3] = Finish(a3, b3, q3, row, i, dim);
}

// One step of l2sq_avx2 and of dot_avx2, query at p, row floats x.
inline __m256 l2sq_step(__m256 acc, const float* p, __m256 x) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(p), x);
    return _mm256_fmadd_ps(d, d, acc);
}
inline __m256 dot_step(__m256 acc, const float* p, __m256 x) { return _mm256_fmadd_ps(_mm256_loadu_ps(p), x, acc); }

}  // namespace

const Kernels& avx2_kernels() {
    static const Kernels table = detail::make_kernels<l2sq_avx2, dot_avx2, tile4_avx2<l2sq_step, l2sq_finish>,
                                                       tile4_avx2<dot_step, dot_finish>>(Level::avx2);
    return table;
}

}  // namespace fanns::simd
