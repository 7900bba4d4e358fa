// The forward index: every document's complete vector, terms ascending (dense
// term ids from the TermMap) with f16 weights. Candidates found through the
// posting lists are scored exactly here against a dense copy of the query.
// A row is one contiguous run of 6-byte (term, weight) entries, so scoring a
// document reads a single stream that can be prefetched ahead.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "huge_pages.h"
#include "parallel.h"
#include "sparse/csr_view.h"
#include "sparse/half.h"
#include "sparse/term_map.h"

namespace fanns::sparse {

struct __attribute__((packed)) ForwardEntry {
    std::uint32_t term;
    std::uint16_t value;  // f16 bits
};
static_assert(sizeof(ForwardEntry) == 6, "forward entries are packed");

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
        f.entries_.resize(f.offsets_[n]);
        parallel_for(n, threads, 1024, [&](std::size_t row, std::size_t) {
            std::size_t at = f.offsets_[row];
            for (const auto& [t, h] : parts[row]) {
                f.entries_[at].term = t;
                f.entries_[at].value = h;
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
        f.offsets_.assign(offsets.begin(), offsets.end());
        f.entries_.resize(terms.size());
        for (std::size_t j = 0; j < terms.size(); ++j) {
            f.entries_[j].term = terms[j];
            f.entries_[j].value = values[j];
        }
        return f;
    }

    std::size_t size() const { return offsets_.empty() ? 0 : offsets_.size() - 1; }
    std::size_t nnz() const { return entries_.size(); }
    std::size_t length(std::uint32_t doc) const { return offsets_[doc + 1] - offsets_[doc]; }
    const ForwardEntry* row(std::uint32_t doc) const { return entries_.data() + offsets_[doc]; }

    // Inner product of document `doc` with a query held densely by term id;
    // `query_terms` has bit t set iff the query has term t. The bit test skips
    // the (usually many) document terms the query lacks without touching the
    // dense array. Terms are added in document order.
    float score(const float* dense_query, const std::uint64_t* query_terms, std::uint32_t doc) const {
        const ForwardEntry* e = entries_.data() + offsets_[doc];
        const ForwardEntry* end = entries_.data() + offsets_[doc + 1];
        float sum = 0.0f;
        for (; e != end; ++e) {
            const std::uint32_t term = e->term;
            if ((query_terms[term >> 6] >> (term & 63)) & 1u) sum += dense_query[term] * half_to_float(e->value);
        }
        return sum;
    }

    // Asks the memory system for the first cache lines of a document's row.
    void prefetch_start(std::uint32_t doc) const {
        const char* begin = reinterpret_cast<const char*>(entries_.data() + offsets_[doc]);
        __builtin_prefetch(begin);
        __builtin_prefetch(begin + 64);
    }

    // Asks the memory system for a document's row ahead of scoring it.
    void prefetch(std::uint32_t doc) const {
        const char* begin = reinterpret_cast<const char*>(entries_.data() + offsets_[doc]);
        const char* end = reinterpret_cast<const char*>(entries_.data() + offsets_[doc + 1]);
        for (const char* p = begin; p < end; p += 64) __builtin_prefetch(p);
    }

    const LargeVector<std::uint64_t>& offsets() const { return offsets_; }

    std::vector<std::uint32_t> terms() const {
        std::vector<std::uint32_t> out(entries_.size());
        for (std::size_t j = 0; j < out.size(); ++j) out[j] = entries_[j].term;
        return out;
    }

    std::vector<std::uint16_t> values() const {
        std::vector<std::uint16_t> out(entries_.size());
        for (std::size_t j = 0; j < out.size(); ++j) out[j] = entries_[j].value;
        return out;
    }

    std::size_t memory_bytes() const {
        return offsets_.size() * sizeof(std::uint64_t) + entries_.size() * sizeof(ForwardEntry);
    }

private:
    // Rows are read at random: large arrays are on huge pages (huge_pages.h).
    LargeVector<std::uint64_t> offsets_;
    LargeVector<ForwardEntry> entries_;
};

}  // namespace fanns::sparse
