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

}  // namespace

const CodeKernels& avx2_code_kernels() {
    static const CodeKernels table = detail::make_code_kernels<dot_u8_avx2>(Level::avx2);
    return table;
}

}  // namespace fanns::simd
