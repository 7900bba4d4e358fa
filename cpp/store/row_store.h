// The rows of an index, stored once: float32 rows in row order, plus at most
// one derived encoding that searches read instead of the floats.
//
//   f32   the float rows only
//   sq8   8-bit scalar codes per row (quantized_rows.h): a quarter of the
//         floats' bytes per distance; candidates found on codes are scored
//         again on the float rows, so returned distances are exact
//   f16   float16 copies of the rows (store/half_rows.h): half the floats'
//         bytes, distances nearly exact; rescored on the float rows as sq8
//
// The float rows are owned (a packed copy) or borrowed: a pointer and a row
// stride into memory someone else keeps alive and unchanged (a read-only
// memory map of a .fvecs file, whose rows sit dim + 1 floats apart, or the
// rows section of a mapped index file). Borrowed rows are read in place, so
// only the codes and the graph's links need memory of their own.
//
// Codes and f16 rows are derived from the float rows (on build, or on
// loading a file without them) or restored as saved, and never change the
// float rows.
// Every reader (graph search, exact scans, rescoring) goes through this one
// store; scorers.h turns it into per-query scorers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "huge_pages.h"
#include "metric.h"
#include "quantized_rows.h"
#include "store/half_rows.h"

namespace fanns {

enum class Storage : std::int8_t { f32 = 0, sq8 = 1, f16 = 2 };

inline const char* storage_name(Storage s) {
    switch (s) {
        case Storage::f32: return "f32";
        case Storage::sq8: return "sq8";
        case Storage::f16: return "f16";
    }
    return "unknown";
}

inline Storage parse_storage(const std::string& name) {
    if (name == "f32") return Storage::f32;
    if (name == "sq8") return Storage::sq8;
    if (name == "f16") return Storage::f16;
    throw std::invalid_argument("unknown storage '" + name + "' (expected 'sq8', 'f16' or 'f32')");
}

class RowStore {
public:
    RowStore(std::size_t dim, Metric metric, Storage storage) : dim_(dim), metric_(metric), storage_(storage) {
        if (dim == 0) throw std::invalid_argument("dimension must be positive");
    }
    // A copy owns copies of owned rows and reads borrowed ones in place, like
    // the original (whose owner must then outlive the copy too).
    RowStore(const RowStore& other)
        : dim_(other.dim_),
          metric_(other.metric_),
          storage_(other.storage_),
          n_(other.n_),
          rows_(other.rows_),
          base_(other.borrowed() ? other.base_ : rows_.data()),
          stride_(other.stride_),
          codes_(other.codes_),
          halves_(other.halves_) {}
    RowStore& operator=(const RowStore&) = delete;
    RowStore(RowStore&&) noexcept = default;  // a moved vector keeps its buffer
    RowStore& operator=(RowStore&&) noexcept = default;

    // Copies n rows of `dim` floats that start `stride` floats apart (0: dim).
    void assign(const float* data, std::size_t n, std::size_t stride = 0) {
        stride = checked_stride(stride);
        rows_.resize(n * dim_);
        for (std::size_t i = 0; i < n; ++i) {
            std::copy(data + i * stride, data + i * stride + dim_, rows_.begin() + i * dim_);
        }
        base_ = rows_.data();
        stride_ = dim_;
        n_ = n;
        codes_.clear();
        halves_.clear();
    }
    // Reads n rows starting `stride` floats apart (0: dim) in place; the
    // caller keeps them alive and unchanged for the store's lifetime.
    void borrow(const float* data, std::size_t n, std::size_t stride = 0) {
        stride = checked_stride(stride);
        rows_ = {};
        base_ = data;
        stride_ = stride;
        n_ = n;
        codes_.clear();
        halves_.clear();
    }
    // Appends m rows (row-major). Codes, when present, are extended with
    // the bounds fitted to the first rows (quantized_rows.h: rows outside
    // them are pulled in, or marked to be scored on their float rows).
    // Borrowed rows are copied first: a store that grows owns its rows.
    void append(const float* data, std::size_t m, std::size_t threads) {
        if (m == 0) return;
        if (stride_ != dim_ || borrowed()) {
            LargeVector<float> packed(n_ * dim_);
            for (std::size_t i = 0; i < n_; ++i) {
                const float* r = base_ + i * stride_;
                std::copy(r, r + dim_, packed.begin() + i * dim_);
            }
            rows_ = std::move(packed);
        }
        rows_.reserve((n_ + m) * dim_);
        rows_.insert(rows_.end(), data, data + m * dim_);
        base_ = rows_.data();
        stride_ = dim_;
        n_ += m;
        codes_.append(data, m, threads);
        halves_.append(data, m, threads);
    }
    // Derives the encoding from the float rows on `threads` threads (0: every
    // core); the result does not depend on the thread count. An encoding
    // that cannot hold these rows (codes need 1..32768 dimensions and at
    // least one row) leaves the store reading floats: see coded().
    void encode(std::size_t threads) {
        codes_.clear();
        halves_.clear();
        if (wants_codes()) codes_.assign(base_, nullptr, n_, dim_, metric_, threads, stride_);
        if (wants_halves()) halves_.assign(base_, n_, dim_, metric_, threads, stride_);
    }
    // Whether this store's storage and shape call for codes, or f16 rows.
    bool wants_codes() const { return storage_ == Storage::sq8 && n_ > 0 && QuantizedRows::supports(dim_); }
    bool wants_halves() const { return storage_ == Storage::f16 && n_ > 0; }
    // Codes saved earlier (see QuantizedRows::restore), in place of encode().
    void restore_codes(QuantizedRows::Bounds bounds, const std::uint8_t* codes, bool borrow) {
        if (!wants_codes()) throw std::invalid_argument("corrupt index: codes for a store without them");
        codes_.restore(std::move(bounds), codes, n_, dim_, borrow);
    }
    // F16 rows saved earlier (see HalfRows::restore), in place of encode().
    void restore_halves(int exponent, const std::uint16_t* halves, bool borrow) {
        if (!wants_halves()) throw std::invalid_argument("corrupt index: f16 rows for a store without them");
        halves_.restore(exponent, halves, n_, dim_, metric_, borrow);
    }

    std::size_t size() const { return n_; }
    std::size_t dim() const { return dim_; }
    Metric metric() const { return metric_; }
    Storage storage() const { return storage_; }
    // Whether searches read codes (sq8 with codes present).
    bool coded() const { return !codes_.empty(); }
    // Whether searches read f16 rows (f16 with rows present).
    bool halved() const { return !halves_.empty(); }
    // Bytes a traversal or a scan reads per distance: the codes, the f16
    // rows or the float rows.
    double scanned_row_bytes() const {
        if (coded()) return double(codes_.stride());
        if (halved()) return HalfRows::row_bytes(dim_);
        return 4.0 * double(dim_);
    }

    const float* row(std::uint32_t id) const { return base_ + std::size_t(id) * stride_; }
    // The first row; row i starts row_stride() * i floats after it.
    const float* rows() const { return base_; }
    std::size_t row_stride() const { return stride_; }
    bool borrowed() const { return n_ > 0 && rows_.empty(); }
    const QuantizedRows& codes() const { return codes_; }
    const HalfRows& halves() const { return halves_; }

    // Bytes the store holds itself (borrowed rows and codes are not counted:
    // see borrowed_bytes()).
    std::size_t float_bytes() const { return rows_.capacity() * sizeof(float); }
    std::size_t code_bytes() const { return codes_.memory_bytes(); }
    std::size_t half_bytes() const { return halves_.memory_bytes(); }
    // Bytes read in place from memory the store does not own.
    std::size_t borrowed_float_bytes() const { return borrowed() ? n_ * dim_ * sizeof(float) : 0; }
    std::size_t borrowed_code_bytes() const { return codes_.borrowed() ? n_ * codes_.stride() : 0; }
    std::size_t borrowed_half_bytes() const { return halves_.borrowed() ? n_ * dim_ * sizeof(std::uint16_t) : 0; }

private:
    std::size_t checked_stride(std::size_t stride) const {
        if (stride == 0) return dim_;
        if (stride < dim_) throw std::invalid_argument("row stride is smaller than the dimension");
        return stride;
    }

    std::size_t dim_;
    Metric metric_;
    Storage storage_;
    std::size_t n_ = 0;
    LargeVector<float> rows_;       // owned rows (packed), empty when borrowed
    const float* base_ = nullptr;   // rows_.data() or the borrowed rows
    std::size_t stride_ = 0;        // floats from one row to the next
    QuantizedRows codes_;
    HalfRows halves_;
};

}  // namespace fanns
