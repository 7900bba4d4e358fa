// The rows of an index, stored once: float32 rows in row order, plus at most
// one derived encoding that searches read instead of the floats.
//
//   f32   the float rows only
//   sq8   8-bit scalar codes per row (quantized_rows.h): a quarter of the
//         floats' bytes per distance; candidates found on codes are scored
//         again on the float rows, so returned distances are exact
//
// Codes are derived from the float rows (on build and on load) and never
// change the float rows. Every reader (graph search, exact scans, rescoring)
// goes through this one store; scorers.h turns it into per-query scorers.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "metric.h"
#include "quantized_rows.h"

namespace fanns {

enum class Storage : std::int8_t { f32 = 0, sq8 = 1 };

inline const char* storage_name(Storage s) {
    switch (s) {
        case Storage::f32: return "f32";
        case Storage::sq8: return "sq8";
    }
    return "unknown";
}

inline Storage parse_storage(const std::string& name) {
    if (name == "f32") return Storage::f32;
    if (name == "sq8") return Storage::sq8;
    throw std::invalid_argument("unknown storage '" + name + "' (expected 'sq8' or 'f32')");
}

class RowStore {
public:
    RowStore(std::size_t dim, Metric metric, Storage storage) : dim_(dim), metric_(metric), storage_(storage) {
        if (dim == 0) throw std::invalid_argument("dimension must be positive");
    }

    // Copies n rows of `dim` floats (row-major).
    void assign(const float* data, std::size_t n) {
        rows_.assign(data, data + n * dim_);
        n_ = n;
        codes_.clear();
    }
    // Appends m rows (row-major). Codes, when present, are extended with
    // the bounds fitted to the first rows (quantized_rows.h: rows outside
    // them are pulled in, or marked to be scored on their float rows).
    void append(const float* data, std::size_t m, std::size_t threads) {
        rows_.reserve(rows_.size() + m * dim_);
        rows_.insert(rows_.end(), data, data + m * dim_);
        n_ += m;
        codes_.append(data, m, threads);
    }
    // Takes the rows over without a copy.
    void adopt(std::vector<float>&& rows) {
        if (rows.size() % dim_ != 0) throw std::invalid_argument("row block size is not a multiple of dim");
        rows_ = std::move(rows);
        n_ = rows_.size() / dim_;
        codes_.clear();
    }
    // Derives the encoding from the float rows on `threads` threads (0: every
    // core); the result does not depend on the thread count. An encoding
    // that cannot hold these rows (codes need 1..32768 dimensions and at
    // least one row) leaves the store reading floats: see coded().
    void encode(std::size_t threads) {
        codes_.clear();
        if (storage_ == Storage::sq8 && n_ > 0 && QuantizedRows::supports(dim_)) {
            codes_.assign(rows_.data(), nullptr, n_, dim_, metric_, threads);
        }
    }

    std::size_t size() const { return n_; }
    std::size_t dim() const { return dim_; }
    Metric metric() const { return metric_; }
    Storage storage() const { return storage_; }
    // Whether searches read codes (sq8 with codes present).
    bool coded() const { return !codes_.empty(); }

    const float* row(std::uint32_t id) const { return rows_.data() + std::size_t(id) * dim_; }
    const float* rows() const { return rows_.data(); }
    const std::vector<float>& float_rows() const { return rows_; }
    const QuantizedRows& codes() const { return codes_; }

    std::size_t float_bytes() const { return rows_.capacity() * sizeof(float); }
    std::size_t code_bytes() const { return codes_.memory_bytes(); }

private:
    std::size_t dim_;
    Metric metric_;
    Storage storage_;
    std::size_t n_ = 0;
    std::vector<float> rows_;
    QuantizedRows codes_;
};

}  // namespace fanns
