// AVX-512 (BW) 8-bit code kernel: codes multiplied by query bytes, pairs
// summed into int32 lanes; tails are scalar. Compiled with the
// AVX-512 flags; only called after the CPU and OS were seen to support them.
#include <immintrin.h>

#include "simd/code_distance.h"
#include "simd/code_loops.h"

namespace fanns::simd {
namespace {

// Unsigned codes times signed query bytes, adjacent pairs summed into int16
// (|q| <= kDotQueryBound keeps them exact), then into int32.
std::int32_t dot_u8_avx512(const std::int8_t* q, const std::uint8_t* c, std::size_t dim) {
    const __m512i ones = _mm512_set1_epi16(1);
    __m512i acc = _mm512_setzero_si512();
    std::size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        const __m512i p = _mm512_maddubs_epi16(_mm512_loadu_si512(c + i), _mm512_loadu_si512(q + i));
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(p, ones));
    }
    std::int32_t total = _mm512_reduce_add_epi32(acc);
    for (; i < dim; ++i) total += std::int32_t(q[i]) * std::int32_t(c[i]);
    return total;
}

// Four queries against two rows over `dims` bytes (a multiple of 64): each
// 64 bytes of a row are loaded once and multiplied by the four queries.
void dot_u8_tile_avx512(const std::int8_t* q, std::size_t query_stride, const std::uint8_t* r0,
                        const std::uint8_t* r1, std::size_t dims, std::int32_t* sums) {
    const __m512i ones = _mm512_set1_epi16(1);
    __m512i acc[8];
    for (__m512i& a : acc) a = _mm512_setzero_si512();
    for (std::size_t i = 0; i < dims; i += 64) {
        const __m512i x = _mm512_loadu_si512(r0 + i), y = _mm512_loadu_si512(r1 + i);
        for (std::size_t k = 0; k < 4; ++k) {
            const __m512i v = _mm512_loadu_si512(q + k * query_stride + i);
            acc[2 * k] = _mm512_add_epi32(acc[2 * k], _mm512_madd_epi16(_mm512_maddubs_epi16(x, v), ones));
            acc[2 * k + 1] = _mm512_add_epi32(acc[2 * k + 1], _mm512_madd_epi16(_mm512_maddubs_epi16(y, v), ones));
        }
    }
    for (std::size_t t = 0; t < 8; ++t) sums[t] += _mm512_reduce_add_epi32(acc[t]);
}

}  // namespace

const CodeKernels& avx512_code_kernels() {
    static const CodeKernels table =
        detail::make_code_kernels<dot_u8_avx512, dot_u8_tile_avx512, 64>(Level::avx512);
    return table;
}

}  // namespace fanns::simd
