// 8-bit scalar quantisation of rows: a compact copy for scoring many
// candidates cheaply, before the best few are scored again on the float rows.
//
// Dimension i maps its range [low_i, high_i] onto the codes 0..255 with step
// s_i = (high_i - low_i) / 255. A row decodes to x^ = m + y, where m = low +
// 127.5 s is the centre of the codes' box and y_i = s_i (c_i - 127.5). For a
// query, v = q - a m (a = 1 or 0) and w_i = v_i s_i; both metrics then reduce
// to one integer sum S = sum r_i c_i, r_i = round(w_i / t) with |r_i| <= 64
// and t = max |w_i| / 64 (the byte multiply-add kernels compute S exactly),
// plus one float per row, stored after the row's codes so that scoring a row
// touches one place:
//   l2   a = 1:  |q - x^|^2 = |v|^2 + 255 sum w_i - 2 t S + |y|^2
//   dot          <q, x^>    = <q, m> - 127.5 sum w_i + t S + a <m, y>
//        (a = 1 when that makes max |w_i| smaller)
// Terms are taken about the centre, so no large terms cancel, and w stays
// small enough for its bytes to resolve it, also for rows that share a large
// common component (normalised embeddings often do).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

    // A query ready to be scored: distance ~ offset + scale * S + row_weight * (row term).
    struct Query {
        std::vector<std::int8_t> bytes;  // r_i
        float offset = 0.0f;
        float scale = 0.0f;
        float row_weight = 0.0f;
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
        step_.resize(dim);
        centre_.resize(dim);
        for (std::size_t i = 0; i < dim; ++i) {
            const float span = high[i] - low_[i];
            step_[i] = span > 0.0f && std::isfinite(span) ? span / 255.0f : 0.0f;
            centre_[i] = low_[i] + 127.5f * step_[i];
        }
        stride_ = (dim + 3) / 4 * 4 + sizeof(float);
        codes_.assign(n * stride_, 0);
        // Plain loops over contiguous arrays that compilers vectorise at the
        // baseline ISA: encoding runs on every load, so it has to be cheap.
        std::vector<float> inverse(dim);
        for (std::size_t i = 0; i < dim; ++i) inverse[i] = step_[i] > 0.0f ? 1.0f / step_[i] : 0.0f;
        parallel_for(n, threads, 512, [&](std::size_t p, std::size_t) {
            const float* x = rows + std::size_t(order[p]) * dim;
            std::uint8_t* c = codes_.data() + p * stride_;
            for (std::size_t i = 0; i < dim; ++i) {
                // nearest level, halves rounded up; the clamp keeps rounding
                // error at the ends inside the code range
                const float level = std::min(std::max((x[i] - low_[i]) * inverse[i] + 0.5f, 0.0f), 255.0f);
                c[i] = static_cast<std::uint8_t>(static_cast<int>(level));
            }
            constexpr std::size_t kLanes = 8;  // |y|^2 (l2) or <m, y> (dot), y_i = s_i (c_i - 127.5)
            float lanes[kLanes] = {};
            std::size_t i = 0;
            for (; i + kLanes <= dim; i += kLanes) {
                for (std::size_t l = 0; l < kLanes; ++l) {
                    const float y = step_[i + l] * (float(c[i + l]) - 127.5f);
                    lanes[l] += similarity_ ? centre_[i + l] * y : y * y;
                }
            }
            float term = 0.0f;
            for (; i < dim; ++i) {
                const float y = step_[i] * (float(c[i]) - 127.5f);
                term += similarity_ ? centre_[i] * y : y * y;
            }
            for (std::size_t l = 0; l < kLanes; ++l) term += lanes[l];
            std::memcpy(c + stride_ - sizeof(float), &term, sizeof(float));
        });
        n_ = n;
    }

    void clear() {
        codes_ = {};
        low_ = {};
        step_ = {};
        centre_ = {};
        n_ = dim_ = stride_ = 0;
    }

    bool empty() const { return n_ == 0; }
    std::size_t size() const { return n_; }
    std::size_t dim() const { return dim_; }
    const std::uint8_t* row(std::size_t position) const { return codes_.data() + position * stride_; }
    // Bytes from one row's codes to the next (codes, padding, row term).
    std::size_t stride() const { return stride_; }
    std::size_t memory_bytes() const {
        return codes_.capacity() * sizeof(std::uint8_t) +
               (low_.capacity() + step_.capacity() + centre_.capacity()) * sizeof(float);
    }

    void prepare(const float* query, Query& out) const {
        out.dot = simd::active_code_kernels().dot_u8;
        out.bytes.resize(dim_);
        // max |w_i| without and with centring the query
        float plain = 0.0f, centred = 0.0f;
        for (std::size_t i = 0; i < dim_; ++i) {
            plain = std::max(plain, std::fabs(query[i] * step_[i]));
            centred = std::max(centred, std::fabs((query[i] - centre_[i]) * step_[i]));
        }
        const bool centre = !similarity_ || centred < plain;
        const float largest = centre ? centred : plain;
        const float bound = float(simd::kDotQueryBound);
        const float t = largest > 0.0f && std::isfinite(largest) ? largest / bound : 1.0f;
        double v_norm = 0.0, w_sum = 0.0, at_centre = 0.0;
        for (std::size_t i = 0; i < dim_; ++i) {
            const float v = centre ? query[i] - centre_[i] : query[i];
            const float w = v * step_[i];
            v_norm += double(v) * double(v);
            w_sum += double(w);
            at_centre += double(query[i]) * double(centre_[i]);
            const float r = std::nearbyint(w / t);
            out.bytes[i] = static_cast<std::int8_t>(std::isnan(r) ? 0.0f : std::clamp(r, -bound, bound));
        }
        if (similarity_) {
            // distance 1 - <q, x^>
            out.offset = float(1.0 - at_centre + 127.5 * w_sum);
            out.scale = -t;
            out.row_weight = centre ? -1.0f : 0.0f;
        } else {
            out.offset = float(v_norm + 255.0 * w_sum);
            out.scale = -2.0f * t;
            out.row_weight = 1.0f;
        }
    }

    float distance(const Query& q, std::size_t position) const {
        const std::uint8_t* c = row(position);
        float term;
        std::memcpy(&term, c + stride_ - sizeof(float), sizeof(float));
        return q.offset + q.scale * float(q.dot(q.bytes.data(), c, dim_)) + q.row_weight * term;
    }

private:
    std::vector<std::uint8_t> codes_;  // n rows of `stride_` bytes, in position order
    std::vector<float> low_;           // per dimension
    std::vector<float> step_;          // per dimension: (high - low) / 255, 0 for a constant dimension
    std::vector<float> centre_;        // per dimension: low + 127.5 * step
    std::size_t n_ = 0;
    std::size_t dim_ = 0;
    std::size_t stride_ = 0;
    bool similarity_ = false;
};

}  // namespace fanns
