// The index's term dictionary: the sorted distinct term ids that occur in the
// collection. Internally terms are numbered densely by their rank here, so
// per-query scratch arrays are sized by the terms actually used, not by the
// width of the input matrix.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "sparse/csr_view.h"

namespace fanns::sparse {

class TermMap {
public:
    static constexpr std::uint32_t kAbsent = 0xffffffffu;

    TermMap() = default;

    explicit TermMap(std::vector<std::uint32_t> sorted_terms, std::uint64_t n_cols)
        : terms_(std::move(sorted_terms)) {
        for (std::size_t i = 0; i < terms_.size(); ++i) {
            if (terms_[i] >= n_cols || (i > 0 && terms_[i] <= terms_[i - 1])) {
                throw std::invalid_argument("term map must be strictly increasing and below n_terms");
            }
        }
    }

    static TermMap from_rows(const CsrView& rows) {
        const std::size_t nnz = rows.nnz();
        std::vector<std::uint32_t> terms;
        constexpr std::uint64_t kDenseLimit = std::uint64_t{1} << 24;
        if (rows.n_cols <= kDenseLimit) {
            std::vector<std::uint8_t> seen(static_cast<std::size_t>(rows.n_cols), 0);
            for (std::size_t j = 0; j < nnz; ++j) seen[rows.indices[j]] = 1;
            for (std::size_t t = 0; t < seen.size(); ++t) {
                if (seen[t]) terms.push_back(static_cast<std::uint32_t>(t));
            }
        } else {
            terms.assign(rows.indices, rows.indices + nnz);
            std::sort(terms.begin(), terms.end());
            terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
        }
        TermMap map;
        map.terms_ = std::move(terms);
        return map;
    }

    std::size_t size() const { return terms_.size(); }
    const std::vector<std::uint32_t>& terms() const { return terms_; }
    std::uint32_t original(std::uint32_t compact) const { return terms_[compact]; }

    // Dense id of an original term id, or kAbsent.
    std::uint32_t compact(std::uint32_t term) const {
        auto it = std::lower_bound(terms_.begin(), terms_.end(), term);
        if (it == terms_.end() || *it != term) return kAbsent;
        return static_cast<std::uint32_t>(it - terms_.begin());
    }

    std::size_t memory_bytes() const { return terms_.size() * sizeof(std::uint32_t); }

private:
    std::vector<std::uint32_t> terms_;
};

}  // namespace fanns::sparse
