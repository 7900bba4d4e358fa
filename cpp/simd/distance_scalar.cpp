// Portable kernels: the reference every wider level is tested against, and
// the kernels used on CPUs without a wider level (aarch64 included). Eight
// independent accumulators let compilers vectorise them at the baseline ISA.
#include "simd/kernel_loops.h"

namespace fanns::simd {
namespace {

constexpr std::size_t kLanes = 8;

float l2sq_scalar(const float* a, const float* b, std::size_t dim) {
    float acc[kLanes] = {};
    std::size_t i = 0;
    for (; i + kLanes <= dim; i += kLanes) {
        for (std::size_t l = 0; l < kLanes; ++l) {
            const float d = a[i + l] - b[i + l];
            acc[l] += d * d;
        }
    }
    float total = 0.0f;
    for (; i < dim; ++i) {
        const float d = a[i] - b[i];
        total += d * d;
    }
    for (std::size_t l = 0; l < kLanes; ++l) total += acc[l];
    return total;
}

float dot_scalar(const float* a, const float* b, std::size_t dim) {
    float acc[kLanes] = {};
    std::size_t i = 0;
    for (; i + kLanes <= dim; i += kLanes) {
        for (std::size_t l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
    }
    float total = 0.0f;
    for (; i < dim; ++i) total += a[i] * b[i];
    for (std::size_t l = 0; l < kLanes; ++l) total += acc[l];
    return total;
}

}  // namespace

const Kernels& scalar_kernels() {
    static const Kernels table = detail::make_kernels<l2sq_scalar, dot_scalar>(Level::scalar);
    return table;
}

}  // namespace fanns::simd
