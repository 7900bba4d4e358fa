// A borrowed compressed-sparse-row matrix: row i holds the (term, weight)
// pairs indices[indptr[i] .. indptr[i+1]) / data[...]. Documents and queries
// both reach the engine in this form.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace fanns::sparse {

struct CsrView {
    const std::int64_t* indptr = nullptr;  // n_rows + 1 offsets
    const std::uint32_t* indices = nullptr;
    const float* data = nullptr;
    std::size_t n_rows = 0;
    std::uint64_t n_cols = 0;  // every index is below this

    std::size_t row_begin(std::size_t row) const { return static_cast<std::size_t>(indptr[row]); }
    std::size_t row_end(std::size_t row) const { return static_cast<std::size_t>(indptr[row + 1]); }
    std::size_t nnz() const { return n_rows == 0 ? 0 : static_cast<std::size_t>(indptr[n_rows]); }

    // Checks offsets, term range and weights (finite, >= 0, at most max_weight);
    // throws std::invalid_argument naming the first problem.
    void validate(const char* what, std::size_t n_indices, float max_weight) const {
        const std::string name(what);
        if (indptr == nullptr) throw std::invalid_argument(name + ": missing row offsets");
        if (indptr[0] != 0) throw std::invalid_argument(name + ": row offsets must start at 0");
        for (std::size_t i = 0; i < n_rows; ++i) {
            if (indptr[i + 1] < indptr[i]) {
                throw std::invalid_argument(name + ": row offsets decrease at row " + std::to_string(i));
            }
        }
        if (static_cast<std::uint64_t>(indptr[n_rows]) > n_indices) {
            throw std::invalid_argument(name + ": row offsets run past the index/weight arrays");
        }
        const std::size_t total = nnz();
        for (std::size_t j = 0; j < total; ++j) {
            if (indices[j] >= n_cols) {
                throw std::invalid_argument(name + ": term id " + std::to_string(indices[j]) +
                                            " out of range [0, " + std::to_string(n_cols) + ")");
            }
            const float w = data[j];
            if (!(w >= 0.0f) || !std::isfinite(w) || w > max_weight) {
                throw std::invalid_argument(name + ": weight " + std::to_string(w) +
                                            " is negative, not finite or too large");
            }
        }
    }
};

}  // namespace fanns::sparse
