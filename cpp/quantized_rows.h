// 8-bit scalar quantisation of rows: a compact copy for scoring many
// candidates cheaply, before the best few are scored again on the float rows.
//
// Dimension i maps [low_i, low_i + 255 * step] onto the codes 0..255. One
// step serves every dimension (the widest dimension's span / 255), so both
// distances become plain integer sums the code kernels compute exactly:
//   l2   |q - x|^2 ~ step^2 * sum (u_i - c_i)^2        u_i = round((q_i - low_i) / step)
//   dot  <q, x>    ~ <q, low> + step * t * sum r_i c_i  r_i = round(q_i / t)
// u_i are int16, clamped for the dimension so that no int32 sum overflows
// (that holds up to kMaxDim dimensions); r_i are bytes in [-64, 64] (t =
// max |q_i| / 64), which the byte multiply-add kernels need. A query is
// prepared once and then scored against any number of rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "metric.h"
#include "parallel.h"
#include "simd/code_distance.h"

namespace fanns {

class QuantizedRows {
public:
    static constexpr std::size_t kMaxDim = 32768;
    static bool supports(std::size_t dim) { return dim > 0 && dim <= kMaxDim; }

    // A query ready to be scored: distance ~ offset + scale * kernel sum.
    struct Query {
        std::vector<std::int16_t> wide;   // u_i (l2)
        std::vector<std::int8_t> narrow;  // r_i (dot)
        float offset = 0.0f;
        float scale = 0.0f;
        simd::CodeL2Kernel l2 = nullptr;
        simd::CodeDotKernel dot = nullptr;
    };

    // Codes of rows[order[i] * dim ...] for the positions i in [0, n), on
    // `threads` threads (0: every core); the codes do not depend on it.
    void assign(const float* rows, const std::uint32_t* order, std::size_t n, std::size_t dim, Metric metric,
                std::size_t threads = 0) {
        clear();
        if (n == 0 || !supports(dim)) return;
        dim_ = dim;
        similarity_ = metric != Metric::l2;
        // Per-worker extremes first, merged after: min and max do not depend
        // on the order rows are seen in.
        const std::size_t workers = workers_for(n, threads);
        std::vector<float> lows(workers * dim, std::numeric_limits<float>::infinity());
        std::vector<float> highs(workers * dim, -std::numeric_limits<float>::infinity());
        parallel_for(n, threads, 512, [&](std::size_t p, std::size_t w) {
            const float* x = rows + std::size_t(order[p]) * dim;
            float* lo = lows.data() + w * dim;
            float* hi = highs.data() + w * dim;
            for (std::size_t i = 0; i < dim; ++i) {
                lo[i] = std::min(lo[i], x[i]);
                hi[i] = std::max(hi[i], x[i]);
            }
        });
        low_.assign(lows.begin(), lows.begin() + dim);
        std::vector<float> high(highs.begin(), highs.begin() + dim);
        for (std::size_t w = 1; w < workers; ++w) {
            for (std::size_t i = 0; i < dim; ++i) {
                low_[i] = std::min(low_[i], lows[w * dim + i]);
                high[i] = std::max(high[i], highs[w * dim + i]);
            }
        }
        float span = 0.0f;
        for (std::size_t i = 0; i < dim; ++i) span = std::max(span, high[i] - low_[i]);
        step_ = span > 0.0f && std::isfinite(span) ? span / 255.0f : 1.0f;
        codes_.resize(n * dim);
        parallel_for(n, threads, 512, [&](std::size_t p, std::size_t) {
            const float* x = rows + std::size_t(order[p]) * dim;
            std::uint8_t* c = codes_.data() + p * dim;
            for (std::size_t i = 0; i < dim; ++i) {
                const float level = std::nearbyint((x[i] - low_[i]) / step_);
                c[i] = static_cast<std::uint8_t>(std::clamp(level, 0.0f, 255.0f));
            }
        });
        n_ = n;
    }

    void clear() {
        codes_.clear();
        codes_.shrink_to_fit();
        low_.clear();
        low_.shrink_to_fit();
        n_ = dim_ = 0;
    }

    bool empty() const { return n_ == 0; }
    std::size_t size() const { return n_; }
    std::size_t dim() const { return dim_; }
    const std::uint8_t* row(std::size_t position) const { return codes_.data() + position * dim_; }
    std::size_t memory_bytes() const {
        return codes_.capacity() * sizeof(std::uint8_t) + low_.capacity() * sizeof(float);
    }

    void prepare(const float* query, Query& out) const {
        const simd::CodeKernels& k = simd::active_code_kernels();
        out.l2 = nullptr;
        out.dot = nullptr;
        if (!similarity_) {
            out.wide.resize(dim_);
            // |u_i - c_i| <= reach keeps dim * reach^2 inside int32.
            const double reach = std::floor(std::sqrt(double(std::numeric_limits<std::int32_t>::max()) / double(dim_)));
            const float top = float(std::min(reach, 32767.0));
            const float bottom = float(std::max(255.0 - reach, -32767.0));
            for (std::size_t i = 0; i < dim_; ++i) {
                const float u = std::nearbyint((query[i] - low_[i]) / step_);
                out.wide[i] = static_cast<std::int16_t>(std::isnan(u) ? 0.0f : std::clamp(u, bottom, top));
            }
            out.offset = 0.0f;
            out.scale = step_ * step_;
            out.l2 = k.l2sq_u8;
            return;
        }
        out.narrow.resize(dim_);
        const float bound = float(simd::kDotQueryBound);
        float largest = 0.0f;
        double at_low = 0.0;
        for (std::size_t i = 0; i < dim_; ++i) {
            largest = std::max(largest, std::fabs(query[i]));
            at_low += double(query[i]) * double(low_[i]);
        }
        const float t = largest > 0.0f && std::isfinite(largest) ? largest / bound : 1.0f;
        for (std::size_t i = 0; i < dim_; ++i) {
            const float r = std::nearbyint(query[i] / t);
            out.narrow[i] = static_cast<std::int8_t>(std::isnan(r) ? 0.0f : std::clamp(r, -bound, bound));
        }
        out.offset = float(1.0 - at_low);
        out.scale = -step_ * t;
        out.dot = k.dot_u8;
    }

    float distance(const Query& q, std::size_t position) const {
        const std::int32_t sum = q.dot != nullptr ? q.dot(q.narrow.data(), row(position), dim_)
                                                  : q.l2(q.wide.data(), row(position), dim_);
        return q.offset + q.scale * float(sum);
    }

private:
    std::vector<std::uint8_t> codes_;  // n x dim, in position order
    std::vector<float> low_;           // per dimension
    float step_ = 1.0f;
    std::size_t n_ = 0;
    std::size_t dim_ = 0;
    bool similarity_ = false;
};

}  // namespace fanns
