// AVX-512 float16-row kernels: sixteen f16 values widened at a time
// (vcvtph2ps, AVX-512F), summed with FMA; tails use masked loads. Compiled
// with the AVX-512 flags; only called after the CPU and OS were seen to
// support them.
#include <immintrin.h>

#include "simd/half_loops.h"

namespace fanns::simd {
namespace {

inline __m512 widen(const std::uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

inline __m512 widen_tail(const std::uint16_t* p, std::size_t remaining) {
    const auto m = static_cast<__mmask16>((1u << remaining) - 1u);
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

inline __m512 load_tail(const float* p, std::size_t remaining) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << remaining) - 1u), p);
}

float l2sq_half_avx512(const float* q, const std::uint16_t* x, std::size_t dim) {
    __m512 acc0 = _mm512_setzero_ps();
    __m512 acc1 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), widen(x + i));
        const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(q + i + 16), widen(x + i + 16));
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
        acc1 = _mm512_fmadd_ps(d1, d1, acc1);
    }
    for (; i + 16 <= dim; i += 16) {
        const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), widen(x + i));
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    }
    if (i < dim) {
        const __m512 d0 = _mm512_sub_ps(load_tail(q + i, dim - i), widen_tail(x + i, dim - i));
        acc1 = _mm512_fmadd_ps(d0, d0, acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float dot_half_avx512(const float* q, const std::uint16_t* x, std::size_t dim) {
    __m512 acc0 = _mm512_setzero_ps();
    __m512 acc1 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), widen(x + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), widen(x + i + 16), acc1);
    }
    for (; i + 16 <= dim; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), widen(x + i), acc0);
    if (i < dim) acc1 = _mm512_fmadd_ps(load_tail(q + i, dim - i), widen_tail(x + i, dim - i), acc1);
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

}  // namespace

const HalfKernels& avx512_half_kernels() {
    static const HalfKernels table = detail::make_half_kernels<l2sq_half_avx512, dot_half_avx512>(Level::avx512);
    return table;
}

}  // namespace fanns::simd
