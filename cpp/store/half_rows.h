// Float16 copies of the rows: half the floats' bytes per distance, about
// three significant decimal digits per value, so distances on them are
// nearly exact; candidates found on them are scored again on the float rows
// (store/scorers.h), so returned distances are exact.
//
// Values are stored scaled by one power of two s = 2^e chosen from the
// rows' largest magnitudes (the 99.9th percentile of the rows' largest
// values lands below 2^14, a quarter of the f16 range), so rows of any size
// use the f16 range, not its subnormals, and one extreme row does not
// coarsen the others.
// Powers of two scale exactly: a query scaled by s scores the stored rows
// at s^2 times the distance, and 1 / s^2 undoes it. A row with a value the
// f16 range cannot hold even so (one of the few largest rows, or an
// appended row far larger than the rows the scale was chosen for) is stored
// as NaN: its distance comes out NaN and
// scorers score it on its float row instead.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "huge_pages.h"
#include "metric.h"
#include "parallel.h"
#include "simd/half_convert.h"
#include "simd/half_distance.h"

namespace fanns {

class HalfRows {
public:
    // Scale exponents a store may use: |e| <= kMaxExponent keeps s^2 and
    // 1 / s^2 normal floats.
    static constexpr int kMaxExponent = 60;
    // The scale is chosen from this quantile of the rows' largest magnitudes.
    static constexpr double kScaleQuantile = 0.999;

    HalfRows() = default;
    // A copy owns copies of owned rows and reads borrowed ones in place, like
    // the original (whose owner keeps them alive).
    HalfRows(const HalfRows& other) { *this = other; }
    HalfRows& operator=(const HalfRows& other) {
        if (this == &other) return *this;
        halves_ = other.halves_;
        data_ = other.borrowed() ? other.data_ : (halves_.empty() ? nullptr : halves_.data());
        n_ = other.n_;
        dim_ = other.dim_;
        exponent_ = other.exponent_;
        similarity_ = other.similarity_;
        return *this;
    }
    HalfRows(HalfRows&&) noexcept = default;  // a moved vector keeps its buffer
    HalfRows& operator=(HalfRows&&) noexcept = default;

    // A query ready to be scored: distance = offset + sign * unscale * kernel(scaled, row).
    struct Query {
        std::vector<float> scaled;  // q * s
        float unscale = 1.0f;       // 1 / s^2
        bool similarity = false;
        // False when the scaled query leaves float's range (a query far
        // larger or smaller than the rows): scorers then read float rows.
        bool usable = true;
        simd::HalfKernel one = nullptr;
        simd::HalfIdsKernel ids = nullptr;
    };

    // Encodes n rows starting `row_stride` floats apart (0: dim) on `threads`
    // threads (0: every core); the result does not depend on it.
    void assign(const float* rows, std::size_t n, std::size_t dim, Metric metric, std::size_t threads,
                std::size_t row_stride = 0) {
        clear();
        if (n == 0 || dim == 0) return;
        if (row_stride == 0) row_stride = dim;
        dim_ = dim;
        similarity_ = metric != Metric::l2;
        // The scale follows the rows' typical largest magnitude, not the
        // single largest: one extreme row would push every other value into
        // f16's subnormals (zeros). Rows past the scale's headroom are held
        // as NaN and scored on their float rows.
        std::vector<float> row_largest(n, 0.0f);
        for (std::size_t i = 0; i < n; ++i) {
            const float* r = rows + i * row_stride;
            for (std::size_t j = 0; j < dim; ++j) row_largest[i] = std::max(row_largest[i], std::fabs(r[j]));
        }
        const float largest = *std::max_element(row_largest.begin(), row_largest.end());
        const std::size_t at = std::size_t(kScaleQuantile * double(n - 1));
        std::nth_element(row_largest.begin(), row_largest.begin() + std::ptrdiff_t(at), row_largest.end());
        exponent_ = exponent_for(row_largest[at] > 0.0f ? row_largest[at] : largest);
        halves_.resize(n * dim);
        data_ = halves_.data();
        encode_rows(rows, row_stride, 0, n, threads);
        n_ = n;
    }

    // Encodes m more rows (row-major) with the scale chosen for the first
    // rows. Borrowed rows are copied first: appending owns them.
    void append(const float* rows, std::size_t m, std::size_t threads) {
        if (m == 0 || n_ == 0) return;
        if (borrowed()) halves_.assign(data_, data_ + n_ * dim_);
        halves_.reserve((n_ + m) * dim_);
        halves_.resize((n_ + m) * dim_);
        data_ = halves_.data();
        encode_rows(rows, dim_, n_, m, threads);
        n_ += m;
    }

    // Rows saved earlier (n x dim f16 values at `halves`, scaled by
    // 2^exponent). With `borrow` they are read in place (the caller keeps
    // them alive and unchanged); otherwise copied. Any f16 value is safe
    // to search: NaN rows are scored on their float rows.
    void restore(int exponent, const std::uint16_t* halves, std::size_t n, std::size_t dim, Metric metric,
                 bool borrow) {
        if (n == 0 || dim == 0 || halves == nullptr) throw std::invalid_argument("corrupt index: f16 rows for this shape");
        if (exponent < -kMaxExponent || exponent > kMaxExponent) throw std::invalid_argument("corrupt index: f16 scale");
        clear();
        n_ = n;
        dim_ = dim;
        exponent_ = exponent;
        similarity_ = metric != Metric::l2;
        if (borrow) {
            data_ = halves;
        } else {
            halves_.assign(halves, halves + n * dim);
            data_ = halves_.data();
        }
    }

    void clear() {
        halves_ = {};
        data_ = nullptr;
        n_ = dim_ = 0;
        exponent_ = 0;
    }

    bool empty() const { return n_ == 0; }
    std::size_t size() const { return n_; }
    std::size_t dim() const { return dim_; }
    int exponent() const { return exponent_; }
    const std::uint16_t* row(std::size_t id) const { return data_ + id * dim_; }
    // All rows, n * dim values (owned, or borrowed: see restore()).
    const std::uint16_t* data() const { return data_; }
    bool borrowed() const { return data_ != nullptr && halves_.empty(); }
    std::size_t memory_bytes() const { return halves_.capacity() * sizeof(std::uint16_t); }
    // Bytes a distance reads.
    static double row_bytes(std::size_t dim) { return 2.0 * double(dim); }

    void prepare(const float* query, Query& out) const {
        const simd::HalfKernels& k = simd::active_half_kernels();
        out.similarity = similarity_;
        out.one = similarity_ ? k.dot : k.l2sq;
        out.ids = similarity_ ? k.dot_ids : k.l2sq_ids;
        const float s = std::ldexp(1.0f, exponent_);
        out.unscale = std::ldexp(1.0f, -2 * exponent_);
        out.scaled.resize(dim_);
        double norm = 0.0;
        for (std::size_t i = 0; i < dim_; ++i) {
            out.scaled[i] = query[i] * s;
            norm += double(out.scaled[i]) * double(out.scaled[i]);
        }
        // The scaled rows' squared norms stay below dim * 2^28; sums far past
        // either would lose the rows in rounding or overflow.
        out.usable = norm < 0x1p100 && (norm > 0x1p-100 || norm == 0.0);
    }

    // Distance from a prepared query to row `id` in the metric's terms
    // (squared l2, or 1 - inner product); NaN for a row held as NaN.
    float distance(const Query& q, std::size_t id) const { return finish(q, q.one(q.scaled.data(), row(id), dim_)); }

    void distances(const Query& q, const std::uint32_t* ids, std::size_t count, float* out) const {
        q.ids(q.scaled.data(), data_, dim_, ids, count, dim_, out);
        for (std::size_t j = 0; j < count; ++j) out[j] = finish(q, out[j]);
    }

private:
    static float finish(const Query& q, float sum) {
        return q.similarity ? 1.0f - sum * q.unscale : sum * q.unscale;
    }

    static int exponent_for(float largest) {
        if (!(largest > 0.0f) || !std::isfinite(largest)) return 0;
        int e;
        std::frexp(largest, &e);  // largest < 2^e
        return std::clamp(14 - e, -kMaxExponent, kMaxExponent);
    }

    void encode_rows(const float* rows, std::size_t row_stride, std::size_t first, std::size_t count,
                     std::size_t threads) {
        const std::size_t dim = dim_;
        const float s = std::ldexp(1.0f, exponent_);
        parallel_for(count, threads, 512, [&](std::size_t p, std::size_t) {
            const float* x = rows + p * row_stride;
            std::uint16_t* h = halves_.data() + (first + p) * dim;
            bool finite = true;
            for (std::size_t i = 0; i < dim; ++i) {
                h[i] = simd::float_to_half(x[i] * s);
                finite = finite && (h[i] & 0x7c00u) != 0x7c00u;
            }
            if (!finite) std::fill(h, h + dim, kNaN);
        });
    }

    static constexpr std::uint16_t kNaN = 0x7e00u;

    LargeVector<std::uint16_t> halves_;  // n rows of dim values (when owned)
    const std::uint16_t* data_ = nullptr;  // halves_.data(), or borrowed rows
    std::size_t n_ = 0;
    std::size_t dim_ = 0;
    int exponent_ = 0;
    bool similarity_ = false;
};

}  // namespace fanns
