// Metrics and the distance functor the graph code uses.
//
// Every metric is turned into a distance where smaller is closer:
//   l2      squared Euclidean distance
//   ip      1 - <q, x>
//   cosine  1 - <q, x> over vectors normalised before they reach the engine
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "simd/distance.h"

namespace fanns {

enum class Metric : int { l2 = 0, ip = 1, cosine = 2 };

inline const char* metric_name(Metric m) {
    switch (m) {
        case Metric::l2: return "l2";
        case Metric::ip: return "ip";
        case Metric::cosine: return "cosine";
    }
    return "unknown";
}

inline Metric parse_metric(const std::string& name) {
    if (name == "l2") return Metric::l2;
    if (name == "ip") return Metric::ip;
    if (name == "cosine") return Metric::cosine;
    throw std::invalid_argument("unknown metric '" + name + "' (expected 'l2', 'ip' or 'cosine')");
}

// One pair kernel bound to a metric and dimension. Built once per loop.
struct Distance {
    simd::PairKernel pair;
    std::size_t dim;
    bool similarity;  // true: turn an inner product into 1 - <q, x>

    Distance(Metric metric, std::size_t dimension, const simd::Kernels& kernels)
        : pair(metric == Metric::l2 ? kernels.l2sq : kernels.dot),
          dim(dimension),
          similarity(metric != Metric::l2) {}

    float operator()(const float* a, const float* b) const {
        const float v = pair(a, b, dim);
        return similarity ? 1.0f - v : v;
    }
};

}  // namespace fanns
