// AVX2 8-bit code kernel: codes multiplied by query bytes (vpmaddubsw), the
// int16 pair sums widened into int32 lanes (vpmaddwd). Compiled with -mavx2 -mfma; only called
// after the CPU was seen to support both.
#include <immintrin.h>

#include "simd/code_distance.h"
#include "simd/code_loops.h"

namespace fanns::simd {
namespace {

inline std::int32_t horizontal_sum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

// Unsigned codes times signed query bytes, adjacent pairs summed into int16
// (vpmaddubsw; |q| <= kDotQueryBound keeps them exact), then into int32.
std::int32_t dot_u8_avx2(const std::int8_t* q, const std::uint8_t* c, std::size_t dim) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc0 = _mm256_setzero_si256();
    __m256i acc1 = _mm256_setzero_si256();
    auto bytes = [](const void* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); };
    std::size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        const __m256i p0 = _mm256_maddubs_epi16(bytes(c + i), bytes(q + i));
        const __m256i p1 = _mm256_maddubs_epi16(bytes(c + i + 32), bytes(q + i + 32));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(p1, ones));
    }
    if (i + 32 <= dim) {
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(bytes(c + i), bytes(q + i)), ones));
        i += 32;
    }
    std::int32_t total = horizontal_sum(_mm256_add_epi32(acc0, acc1));
    for (; i < dim; ++i) total += std::int32_t(q[i]) * std::int32_t(c[i]);
    return total;
}

// Sums of the four int32 vectors, one lane each: {sum a, sum b, sum c, sum d}.
inline __m128i horizontal_sums(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// Four queries against two rows over `dims` bytes (a multiple of 32): each
// 32 bytes of a row are loaded once and multiplied by the four queries.
void dot_u8_tile_avx2(const std::int8_t* q, std::size_t query_stride, const std::uint8_t* r0,
                      const std::uint8_t* r1, std::size_t dims, std::int32_t* sums) {
    const __m256i ones = _mm256_set1_epi16(1);
    auto bytes = [](const void* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); };
    auto step = [&](__m256i acc, __m256i row, __m256i query) {
        return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(row, query), ones));
    };
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;  // row 0, queries 0..3
    __m256i b0 = a0, b1 = a0, b2 = a0, b3 = a0;                        // row 1
    const std::int8_t* q1 = q + query_stride;
    const std::int8_t* q2 = q1 + query_stride;
    const std::int8_t* q3 = q2 + query_stride;
    for (std::size_t i = 0; i < dims; i += 32) {
        const __m256i x = bytes(r0 + i), y = bytes(r1 + i);
        __m256i v = bytes(q + i);
        a0 = step(a0, x, v);
        b0 = step(b0, y, v);
        v = bytes(q1 + i);
        a1 = step(a1, x, v);
        b1 = step(b1, y, v);
        v = bytes(q2 + i);
        a2 = step(a2, x, v);
        b2 = step(b2, y, v);
        v = bytes(q3 + i);
        a3 = step(a3, x, v);
        b3 = step(b3, y, v);
    }
    alignas(16) std::int32_t row0[4], row1[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(row0), horizontal_sums(a0, a1, a2, a3));
    _mm_store_si128(reinterpret_cast<__m128i*>(row1), horizontal_sums(b0, b1, b2, b3));
    for (std::size_t k = 0; k < 4; ++k) {
        sums[2 * k] += row0[k];
        sums[2 * k + 1] += row1[k];
    }
}

}  // namespace

const CodeKernels& avx2_code_kernels() {
    static const CodeKernels table =
        detail::make_code_kernels<dot_u8_avx2, dot_u8_tile_avx2, 32>(Level::avx2);
    return table;
}

}  // namespace fanns::simd
