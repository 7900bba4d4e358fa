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
// touches one place (NaN marks a row far outside the bounds, see below):
//   l2   a = 1:  |q - x^|^2 = |v|^2 + 255 sum w_i - 2 t S + |y|^2
//   dot          <q, x^>    = <q, m> - 127.5 sum w_i + t S + a <m, y>
//        (a = 1 when that makes max |w_i| smaller)
// Terms are taken about the centre, so no large terms cancel, and w stays
// small enough for its bytes to resolve it, also for rows that share a large
// common component (normalised embeddings often do).
//
// The bounds come from quantiles of a sample, not from the extremes, so one
// extreme row cannot coarsen every other row's code. Rows outside the bounds
// are pulled in; a row pulled far is marked, and searches score it on its
// float row. (A row pulled a few steps in one dimension only stays coded:
// marking those marks most rows of wide data.)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "huge_pages.h"
#include "metric.h"
#include "parallel.h"
#include "simd/code_distance.h"

namespace fanns {

class QuantizedRows {
public:
    static constexpr std::size_t kMaxDim = 32768;
    static bool supports(std::size_t dim) { return dim > 0 && dim <= kMaxDim; }

    QuantizedRows() = default;
    // A copy owns copies of owned codes and reads borrowed ones in place,
    // like the original (whose owner keeps them alive).
    QuantizedRows(const QuantizedRows& other) { *this = other; }
    QuantizedRows& operator=(const QuantizedRows& other) {
        if (this == &other) return *this;
        codes_ = other.codes_;
        data_ = other.borrowed() ? other.data_ : (codes_.empty() ? nullptr : codes_.data());
        low_ = other.low_;
        step_ = other.step_;
        centre_ = other.centre_;
        n_ = other.n_;
        dim_ = other.dim_;
        stride_ = other.stride_;
        similarity_ = other.similarity_;
        return *this;
    }
    QuantizedRows(QuantizedRows&&) noexcept = default;  // a moved vector keeps its buffer
    QuantizedRows& operator=(QuantizedRows&&) noexcept = default;

    // A query ready to be scored: distance ~ offset + scale * S + row_weight * (row term).
    struct Query {
        std::vector<std::int8_t> bytes;  // r_i
        double offset = 0.0;
        double scale = 0.0;
        double row_weight = 0.0;
        simd::CodeDotKernel dot = nullptr;
        simd::CodeDotIdsKernel dot_ids = nullptr;
        simd::CodeDotTileKernel dot_tile = nullptr;
    };

    // Codes of rows[order[i] * row_stride ...] for the positions i in [0, n)
    // (row i itself when `order` is null; row_stride 0: dim, rows packed), on
    // `threads` threads (0: every core); the codes do not depend on it.
    void assign(const float* rows, const std::uint32_t* order, std::size_t n, std::size_t dim, Metric metric,
                std::size_t threads = 0, std::size_t row_stride = 0) {
        clear();
        if (n == 0 || !supports(dim)) return;
        dim_ = dim;
        if (row_stride == 0) row_stride = dim;
        similarity_ = metric != Metric::l2;
        choose_bounds(rows, order, n, threads, row_stride);
        stride_ = stride_for(dim);
        codes_.assign(n * stride_, 0);
        data_ = codes_.data();
        encode_rows(rows, order, 0, n, threads, row_stride);
        n_ = n;
    }

    // Codes of `m` more rows (row-major), with the bounds chosen for the
    // first rows: rows outside them are pulled in, and marked as outliers
    // (scored on their float rows) when pulled far. The codes do not depend
    // on `threads`. Borrowed codes are copied first: appending owns them.
    void append(const float* rows, std::size_t m, std::size_t threads = 0) {
        if (m == 0 || n_ == 0) return;
        if (borrowed()) codes_.assign(data_, data_ + n_ * stride_);
        codes_.reserve((n_ + m) * stride_);
        codes_.resize((n_ + m) * stride_, 0);
        data_ = codes_.data();
        encode_rows(rows, nullptr, n_, m, threads, dim_);
        n_ += m;
    }

    // Bytes from one row's codes to the next for rows of `dim` dimensions.
    static std::size_t stride_for(std::size_t dim) { return (dim + 3) / 4 * 4 + sizeof(float); }

    // What restore() takes back: the per-dimension bounds and whether the
    // codes are for a similarity metric; the codes themselves are data().
    struct Bounds {
        std::vector<float> low, step, centre;
        bool similarity = false;
    };
    Bounds bounds() const { return Bounds{low_, step_, centre_, similarity_}; }

    // Codes saved earlier (n rows of stride_for(dim) bytes at `codes`) with
    // their bounds. With `borrow` the codes are read in place (the caller
    // keeps them alive and unchanged, e.g. a read-only memory map);
    // otherwise they are copied. Throws std::invalid_argument when the
    // bounds cannot belong to codes of this shape; any code byte is valid.
    void restore(Bounds b, const std::uint8_t* codes, std::size_t n, std::size_t dim, bool borrow) {
        if (n == 0 || !supports(dim)) throw std::invalid_argument("corrupt index: codes for this shape");
        if (b.low.size() != dim || b.step.size() != dim || b.centre.size() != dim) {
            throw std::invalid_argument("corrupt index: code bounds size");
        }
        for (std::size_t i = 0; i < dim; ++i) {
            if (!std::isfinite(b.low[i]) || !(b.step[i] >= 0.0f) || !std::isfinite(b.step[i]) ||
                !std::isfinite(b.centre[i])) {
                throw std::invalid_argument("corrupt index: code bounds values");
            }
        }
        clear();
        dim_ = dim;
        n_ = n;
        stride_ = stride_for(dim);
        similarity_ = b.similarity;
        low_ = std::move(b.low);
        step_ = std::move(b.step);
        centre_ = std::move(b.centre);
        if (borrow) {
            data_ = codes;
        } else {
            codes_.assign(codes, codes + n * stride_);
            data_ = codes_.data();
        }
    }

    void clear() {
        codes_ = {};
        data_ = nullptr;
        low_ = {};
        step_ = {};
        centre_ = {};
        n_ = dim_ = stride_ = 0;
    }

    bool empty() const { return n_ == 0; }
    std::size_t size() const { return n_; }
    std::size_t dim() const { return dim_; }
    const std::uint8_t* row(std::size_t position) const { return data_ + position * stride_; }
    // All codes, n * stride() bytes (owned, or borrowed: see restore()).
    const std::uint8_t* data() const { return data_; }
    bool borrowed() const { return data_ != nullptr && codes_.empty(); }
    // Bytes from one row's codes to the next (codes, padding, row term).
    std::size_t stride() const { return stride_; }
    std::size_t memory_bytes() const {
        return codes_.capacity() * sizeof(std::uint8_t) +
               (low_.capacity() + step_.capacity() + centre_.capacity()) * sizeof(float);
    }

    // x rounded to the nearest integer, ties to even, as nearbyint() does in
    // the default rounding mode, for |x| <= 2^51. Where doubles are
    // evaluated as doubles (SSE2, NEON), adding 1.5 * 2^52 leaves no bits
    // below the units, without a library call per element; elsewhere (x87
    // registers, or -ffast-math, which may fold the sum) nearbyint().
    static double round_to_even(double x) {
#if defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ == 0 && !defined(__FAST_MATH__)
        constexpr double kRound = 6755399441055744.0;
        return (x + kRound) - kRound;
#else
        return std::nearbyint(x);
#endif
    }

    void prepare(const float* query, Query& out) const {
        const simd::CodeKernels& kernels = simd::active_code_kernels();
        out.dot = kernels.dot_u8;
        out.dot_ids = kernels.dot_u8_ids;
        out.dot_tile = kernels.dot_u8_tile;
        out.bytes.resize(dim_);
        // In double: w_i = v_i s_i may be far below float's range for rows of
        // tiny magnitude.
        double plain = 0.0, centred = 0.0;  // max |w_i| without and with centring
        for (std::size_t i = 0; i < dim_; ++i) {
            centred = std::max(centred, std::fabs((double(query[i]) - double(centre_[i])) * double(step_[i])));
        }
        if (similarity_) {  // (l2 always centres)
            for (std::size_t i = 0; i < dim_; ++i) plain = std::max(plain, std::fabs(double(query[i]) * double(step_[i])));
        }
        const bool centre = !similarity_ || centred < plain;
        const double largest = centre ? centred : plain;
        const double bound = simd::kDotQueryBound;
        const double t = largest > 0.0 && std::isfinite(largest) ? largest / bound : 1.0;
        const double inverse = 1.0 / t;
        double v_norm = 0.0, w_sum = 0.0, at_centre = 0.0;
        std::int8_t* bytes = out.bytes.data();  // (a byte store could alias the vector's own pointer)
        for (std::size_t i = 0; i < dim_; ++i) {
            const double v = centre ? double(query[i]) - double(centre_[i]) : double(query[i]);
            const double w = v * double(step_[i]);
            v_norm += v * v;
            w_sum += w;
            at_centre += double(query[i]) * double(centre_[i]);
            const double r = std::clamp(w * inverse, -bound, bound);  // NaN stays NaN
            bytes[i] = static_cast<std::int8_t>(std::isnan(r) ? 0.0 : round_to_even(r));
        }
        if (similarity_) {
            // distance 1 - <q, x^>
            out.offset = 1.0 - at_centre + 127.5 * w_sum;
            out.scale = -t;
            out.row_weight = centre ? -1.0 : 0.0;
        } else {
            out.offset = v_norm + 255.0 * w_sum;
            out.scale = -2.0 * t;
            out.row_weight = 1.0;
        }
    }

    // Approximate distance; NaN for a row marked as an outlier (score it on
    // its float row instead).
    float distance(const Query& q, std::size_t position) const {
        const std::uint8_t* c = row(position);
        float term;
        std::memcpy(&term, c + stride_ - sizeof(float), sizeof(float));
        return float(q.offset + q.scale * double(q.dot(q.bytes.data(), c, dim_)) + q.row_weight * double(term));
    }

    // distance() of the rows at `positions` into out[0..count), one kernel
    // call per block of rows.
    void distances(const Query& q, const std::uint32_t* positions, std::size_t count, float* out) const {
        std::int32_t sums[kBatch];
        for (std::size_t start = 0; start < count; start += kBatch) {
            const std::size_t len = std::min(kBatch, count - start);
            q.dot_ids(q.bytes.data(), data_, stride_, positions + start, len, dim_, sums);
            for (std::size_t j = 0; j < len; ++j) {
                float term;
                std::memcpy(&term, row(positions[start + j]) + stride_ - sizeof(float), sizeof(float));
                out[start + j] =
                    float(q.offset + q.scale * double(sums[j]) + q.row_weight * double(term));
            }
        }
    }
    static constexpr std::size_t kBatch = 128;

    // The bytes of `nq` prepared queries packed one after another (query i
    // at bytes[i * dim()]), as distances_tile() reads them.
    void pack(const Query* queries, std::size_t nq, std::vector<std::int8_t>& bytes) const {
        bytes.resize(nq * dim_);
        for (std::size_t i = 0; i < nq; ++i) std::copy_n(queries[i].bytes.data(), dim_, bytes.data() + i * dim_);
    }

    // distance() of the rows at `positions` for `nq` queries at once, each
    // row read once for all of them: out[i * count + j] for queries[i] and
    // positions[j]. `bytes` comes from pack(queries, nq); `sums` is scratch.
    // The j of rows marked as outliers (their distances are NaN) are left
    // in `outliers`.
    void distances_tile(const Query* queries, const std::vector<std::int8_t>& bytes, std::size_t nq,
                        const std::uint32_t* positions, std::size_t count, float* out,
                        std::vector<std::int32_t>& sums, std::vector<std::uint32_t>& outliers) const {
        outliers.clear();
        if (nq == 0 || count == 0) return;
        if (bytes.size() != nq * dim_) throw std::invalid_argument("query bytes not packed for this tile");
        sums.resize(nq * count);
        queries[0].dot_tile(bytes.data(), dim_, nq, data_, stride_, positions, count, dim_, sums.data());
        float terms[kBatch];
        for (std::size_t start = 0; start < count; start += kBatch) {
            const std::size_t len = std::min(kBatch, count - start);
            for (std::size_t j = 0; j < len; ++j) {
                std::memcpy(&terms[j], row(positions[start + j]) + stride_ - sizeof(float), sizeof(float));
                if (terms[j] != terms[j]) outliers.push_back(static_cast<std::uint32_t>(start + j));
            }
            for (std::size_t i = 0; i < nq; ++i) {
                const Query& q = queries[i];
                const std::int32_t* s = sums.data() + i * count + start;
                float* o = out + i * count + start;
                for (std::size_t j = 0; j < len; ++j) {
                    o[j] = float(q.offset + q.scale * double(s[j]) + q.row_weight * double(terms[j]));
                }
            }
        }
    }

private:
    // Encodes rows[order[p] * row_stride ...] (row p when `order` is null),
    // p in [0, count), into the codes at positions first + p.
    void encode_rows(const float* rows, const std::uint32_t* order, std::size_t first, std::size_t count,
                     std::size_t threads, std::size_t row_stride) {
        const std::size_t dim = dim_;
        // A row pulled in by the bounds by more than this (squared) is an
        // outlier: its code says little, so it is marked to be scored on
        // its float row. 12x the mean squared rounding error of a row.
        float outlier_error = 0.0f;
        for (std::size_t i = 0; i < dim; ++i) outlier_error += step_[i] * step_[i];
        // Plain loops over contiguous arrays that compilers vectorise at the
        // baseline ISA: encoding runs on every load, so it has to be cheap.
        std::vector<float> inverse(dim), high(dim);
        for (std::size_t i = 0; i < dim; ++i) {
            inverse[i] = step_[i] > 0.0f ? 1.0f / step_[i] : 0.0f;
            high[i] = low_[i] + 255.0f * step_[i];
        }
        parallel_for(count, threads, 512, [&](std::size_t p, std::size_t) {
            const float* x = rows + std::size_t(order ? order[p] : p) * row_stride;
            std::uint8_t* c = codes_.data() + (first + p) * stride_;
            constexpr std::size_t kLanes = 8;
            float pulled[kLanes] = {};  // squared distance moved by the bounds
            float lanes[kLanes] = {};   // |y|^2 (l2) or <m, y> (dot), y_i = s_i (c_i - 127.5)
            auto encode = [&](std::size_t i, float& moved, float& term) {
                const float inside = std::min(std::max(x[i], low_[i]), high[i]);
                moved += (x[i] - inside) * (x[i] - inside);
                // nearest level, halves rounded up
                const float level = std::min((inside - low_[i]) * inverse[i] + 0.5f, 255.0f);
                c[i] = static_cast<std::uint8_t>(static_cast<int>(level));
                const float y = step_[i] * (float(c[i]) - 127.5f);
                term += similarity_ ? centre_[i] * y : y * y;
            };
            std::size_t i = 0;
            for (; i + kLanes <= dim; i += kLanes) {
                for (std::size_t l = 0; l < kLanes; ++l) encode(i + l, pulled[l], lanes[l]);
            }
            float moved = 0.0f, term = 0.0f;
            for (; i < dim; ++i) encode(i, moved, term);
            for (std::size_t l = 0; l < kLanes; ++l) {
                moved += pulled[l];
                term += lanes[l];
            }
            if (moved > outlier_error) term = std::numeric_limits<float>::quiet_NaN();
            std::memcpy(c + stride_ - sizeof(float), &term, sizeof(float));
        });
    }

    // Per-dimension bounds from a sample of the rows: the 0.1% and 99.9%
    // quantiles widened by a quarter of their span on each side, never past
    // the sample's extremes. A few extreme rows cannot stretch the steps of
    // every other row; rows outside the bounds are pulled in (and marked
    // when pulled far).
    void choose_bounds(const float* rows, const std::uint32_t* order, std::size_t n, std::size_t threads,
                       std::size_t row_stride) {
        const std::size_t dim = dim_;
        const std::size_t sample = std::min(n, std::max<std::size_t>(1024, kSampleValues / dim));
        std::vector<float> block(sample * dim);
        for (std::size_t j = 0; j < sample; ++j) {
            const std::size_t p = j * n / sample;  // evenly spaced positions
            std::memcpy(block.data() + j * dim, rows + std::size_t(order ? order[p] : p) * row_stride,
                        dim * sizeof(float));
        }
        const std::size_t cut = sample >= 16 ? std::max<std::size_t>(1, sample / 1000) : 0;
        low_.assign(dim, 0.0f);
        step_.assign(dim, 0.0f);
        centre_.assign(dim, 0.0f);
        std::vector<std::vector<float>> columns(workers_for(dim, threads), std::vector<float>(sample));
        parallel_for(dim, threads, 8, [&](std::size_t i, std::size_t w) {
            std::vector<float>& column = columns[w];
            for (std::size_t j = 0; j < sample; ++j) column[j] = block[j * dim + i];
            const auto [smallest, largest] = std::minmax_element(column.begin(), column.end());
            const float lo_all = *smallest, hi_all = *largest;
            std::nth_element(column.begin(), column.begin() + cut, column.end());
            const float lo_q = column[cut];
            std::nth_element(column.begin(), column.end() - 1 - cut, column.end());
            const float hi_q = column[sample - 1 - cut];
            const float margin = 0.25f * (hi_q - lo_q);
            const float lo = std::max(lo_all, lo_q - margin);
            const float hi = std::min(hi_all, hi_q + margin);
            const float span = hi - lo;
            low_[i] = lo;
            step_[i] = span > 0.0f && std::isfinite(span) ? span / 255.0f : 0.0f;
            centre_[i] = lo + 127.5f * step_[i];
        });
    }

    static constexpr std::size_t kSampleValues = std::size_t(1) << 22;  // floats copied to choose the bounds

    LargeVector<std::uint8_t> codes_;  // n rows of `stride_` bytes, in position order (when owned)
    const std::uint8_t* data_ = nullptr;  // codes_.data(), or borrowed codes
    std::vector<float> low_;           // per dimension
    std::vector<float> step_;          // per dimension: (high - low) / 255, 0 for a constant dimension
    std::vector<float> centre_;        // per dimension: low + 127.5 * step
    std::size_t n_ = 0;
    std::size_t dim_ = 0;
    std::size_t stride_ = 0;
    bool similarity_ = false;
};

}  // namespace fanns
