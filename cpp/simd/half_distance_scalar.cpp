// Portable float16-row kernels: the reference for the wider levels, and the
// kernels on CPUs without one (aarch64 included). Values are widened with a
// branch-free conversion and summed in eight independent float lanes.
#include "simd/half_convert.h"
#include "simd/half_loops.h"

namespace fanns::simd {
namespace {

constexpr std::size_t kLanes = 8;

float l2sq_half_scalar(const float* q, const std::uint16_t* x, std::size_t dim) {
    float acc[kLanes] = {};
    std::size_t i = 0;
    for (; i + kLanes <= dim; i += kLanes) {
        for (std::size_t l = 0; l < kLanes; ++l) {
            const float d = q[i + l] - half_to_float(x[i + l]);
            acc[l] += d * d;
        }
    }
    float total = 0.0f;
    for (; i < dim; ++i) {
        const float d = q[i] - half_to_float(x[i]);
        total += d * d;
    }
    for (std::size_t l = 0; l < kLanes; ++l) total += acc[l];
    return total;
}

float dot_half_scalar(const float* q, const std::uint16_t* x, std::size_t dim) {
    float acc[kLanes] = {};
    std::size_t i = 0;
    for (; i + kLanes <= dim; i += kLanes) {
        for (std::size_t l = 0; l < kLanes; ++l) acc[l] += q[i + l] * half_to_float(x[i + l]);
    }
    float total = 0.0f;
    for (; i < dim; ++i) total += q[i] * half_to_float(x[i]);
    for (std::size_t l = 0; l < kLanes; ++l) total += acc[l];
    return total;
}

}  // namespace

const HalfKernels& scalar_half_kernels() {
    static const HalfKernels table = detail::make_half_kernels<l2sq_half_scalar, dot_half_scalar>(Level::scalar);
    return table;
}

}  // namespace fanns::simd
