// The forward index: every document's complete vector, terms ascending (dense
// term ids from the TermMap) with f16 weights. Candidates found through the
// posting lists are scored exactly here against a dense copy of the query.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sparse/csr_view.h"
#include "sparse/half.h"
#include "sparse/parallel_for.h"
#include "sparse/term_map.h"

namespace fanns::sparse {

class ForwardIndex {
public:
    ForwardIndex() = default;

    // Sorts each row by term, sums repeated terms (as a sparse product would),
    // rounds weights to f16 and drops those that round to zero.
    static ForwardIndex build(const CsrView& rows, const TermMap& terms, std::size_t threads) {
        ForwardIndex f;
        const std::size_t n = rows.n_rows;
        std::vector<std::vector<std::pair<std::uint32_t, std::uint16_t>>> parts(n);
        parallel_for(n, threads, 256, [&](std::size_t row, std::size_t) {
            std::vector<std::pair<std::uint32_t, float>> entries;
            entries.reserve(rows.row_end(row) - rows.row_begin(row));
            for (std::size_t j = rows.row_begin(row); j < rows.row_end(row); ++j) {
                entries.emplace_back(terms.compact(rows.indices[j]), rows.data[j]);
            }
            std::sort(entries.begin(), entries.end(),
                      [](const auto& a, const auto& b) { return a.first < b.first; });
            auto& out = parts[row];
            out.reserve(entries.size());
            for (std::size_t j = 0; j < entries.size();) {
                float sum = 0.0f;
                std::size_t e = j;
                for (; e < entries.size() && entries[e].first == entries[j].first; ++e) sum += entries[e].second;
                if (sum > kHalfMax) {
                    throw std::invalid_argument("document " + std::to_string(row) +
                                                ": summed weight exceeds the f16 range (65504)");
                }
                const std::uint16_t h = float_to_half(sum);
                if (h != 0) out.emplace_back(entries[j].first, h);
                j = e;
            }
        });
        f.offsets_.assign(n + 1, 0);
        for (std::size_t i = 0; i < n; ++i) f.offsets_[i + 1] = f.offsets_[i] + parts[i].size();
        f.terms_.resize(f.offsets_[n]);
        f.values_.resize(f.offsets_[n]);
        parallel_for(n, threads, 1024, [&](std::size_t row, std::size_t) {
            std::size_t at = f.offsets_[row];
            for (const auto& [t, h] : parts[row]) {
                f.terms_[at] = t;
                f.values_[at] = h;
                ++at;
            }
            std::vector<std::pair<std::uint32_t, std::uint16_t>>().swap(parts[row]);
        });
        return f;
    }

    // Adopts exported arrays after checking them against n_terms (dense ids).
    static ForwardIndex from_arrays(std::vector<std::uint64_t> offsets, std::vector<std::uint32_t> terms,
                                    std::vector<std::uint16_t> values, std::size_t n_terms) {
        if (offsets.empty() || offsets.front() != 0) {
            throw std::invalid_argument("forward index: offsets must be non-empty and start at 0");
        }
        if (terms.size() != values.size() || offsets.back() != terms.size()) {
            throw std::invalid_argument("forward index: offsets, terms and values disagree in size");
        }
        for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
            if (offsets[i + 1] < offsets[i]) throw std::invalid_argument("forward index: offsets decrease");
            for (std::uint64_t j = offsets[i]; j < offsets[i + 1]; ++j) {
                if (terms[j] >= n_terms || (j > offsets[i] && terms[j] <= terms[j - 1])) {
                    throw std::invalid_argument("forward index: terms out of range or not ascending");
                }
                if (!half_is_valid_weight(values[j])) {
                    throw std::invalid_argument("forward index: invalid f16 weight");
                }
            }
        }
        ForwardIndex f;
        f.offsets_ = std::move(offsets);
        f.terms_ = std::move(terms);
        f.values_ = std::move(values);
        return f;
    }

    std::size_t size() const { return offsets_.empty() ? 0 : offsets_.size() - 1; }
    std::size_t nnz() const { return terms_.size(); }
    std::size_t length(std::uint32_t doc) const { return offsets_[doc + 1] - offsets_[doc]; }

    // Inner product of document `doc` with a query held densely by term id.
    float score(const float* dense_query, std::uint32_t doc) const {
        const std::uint64_t begin = offsets_[doc];
        const std::uint64_t end = offsets_[doc + 1];
        const std::uint32_t* t = terms_.data();
        const std::uint16_t* v = values_.data();
        float sum = 0.0f;
        for (std::uint64_t j = begin; j < end; ++j) sum += dense_query[t[j]] * half_to_float(v[j]);
        return sum;
    }

    // Weight of `term` in `doc` (0 if absent), by binary search.
    float weight(std::uint32_t doc, std::uint32_t term) const {
        const std::uint32_t* first = terms_.data() + offsets_[doc];
        const std::uint32_t* last = terms_.data() + offsets_[doc + 1];
        const std::uint32_t* it = std::lower_bound(first, last, term);
        if (it == last || *it != term) return 0.0f;
        return half_to_float(values_[static_cast<std::size_t>(it - terms_.data())]);
    }

    const std::uint32_t* terms_of(std::uint32_t doc) const { return terms_.data() + offsets_[doc]; }
    const std::uint16_t* values_of(std::uint32_t doc) const { return values_.data() + offsets_[doc]; }

    const std::vector<std::uint64_t>& offsets() const { return offsets_; }
    const std::vector<std::uint32_t>& terms() const { return terms_; }
    const std::vector<std::uint16_t>& values() const { return values_; }

    std::size_t memory_bytes() const {
        return offsets_.size() * sizeof(std::uint64_t) + terms_.size() * sizeof(std::uint32_t) +
               values_.size() * sizeof(std::uint16_t);
    }

private:
    std::vector<std::uint64_t> offsets_;
    std::vector<std::uint32_t> terms_;
    std::vector<std::uint16_t> values_;
};

}  // namespace fanns::sparse
