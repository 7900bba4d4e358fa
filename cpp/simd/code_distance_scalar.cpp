// Portable 8-bit code kernel: the reference for the wider levels. Eight
// independent integer accumulators let compilers vectorise it at baseline.
#include "simd/code_distance.h"
#include "simd/code_loops.h"

namespace fanns::simd {
namespace {

constexpr std::size_t kLanes = 8;

std::int32_t dot_u8_scalar(const std::int8_t* q, const std::uint8_t* c, std::size_t dim) {
    std::int32_t acc[kLanes] = {};
    std::size_t i = 0;
    for (; i + kLanes <= dim; i += kLanes) {
        for (std::size_t l = 0; l < kLanes; ++l) acc[l] += std::int32_t(q[i + l]) * std::int32_t(c[i + l]);
    }
    std::int32_t total = 0;
    for (; i < dim; ++i) total += std::int32_t(q[i]) * std::int32_t(c[i]);
    for (std::size_t l = 0; l < kLanes; ++l) total += acc[l];
    return total;
}

}  // namespace

const CodeKernels& scalar_code_kernels() {
    static const CodeKernels table = detail::make_code_kernels<dot_u8_scalar>(Level::scalar);
    return table;
}

}  // namespace fanns::simd
