// The forward index: every document's complete vector, terms ascending (dense
// term ids from the TermMap) with its weights, as f32 (exact: the default) or
// f16 (a third less memory, about three decimal digits). Candidates found
// through the posting lists are scored here against a dense copy of the
// query, so the weights kept here are the scores' precision: f16 rounding
// (relative error up to 2^-11) reorders documents whose scores differ by less
// (near-ties, as where a filter leaves only weak matches; bench/sparse.md).
// A row is one contiguous run of (term, weight) entries, 6 bytes (f16) or 8
// (f32), so scoring a document reads a single stream that can be prefetched.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
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

// How the forward index stores weights.
enum class WeightFormat : std::uint8_t { f16 = 0, f32 = 1 };

struct __attribute__((packed)) ForwardEntry {
    std::uint32_t term;
    std::uint16_t value;  // f16 bits
    float weight() const { return half_to_float(value); }
};
static_assert(sizeof(ForwardEntry) == 6, "forward entries are packed");

struct ForwardEntry32 {
    std::uint32_t term;
    float value;
    float weight() const { return value; }
};
static_assert(sizeof(ForwardEntry32) == 8, "f32 forward entries are 8 bytes");

class ForwardIndex {
public:
    ForwardIndex() = default;

    // Sorts each row by term, sums repeated terms (as a sparse product would),
    // stores weights in `format` and drops those that are (or round to) zero or
    // lie below the smallest normal float.
    static ForwardIndex build(const CsrView& rows, const TermMap& terms, std::size_t threads,
                              WeightFormat format = WeightFormat::f32) {
        ForwardIndex f;
        f.format_ = format;
        const std::size_t n = rows.n_rows;
        std::vector<std::vector<std::pair<std::uint32_t, float>>> parts(n);
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
                // The f16 range bounds both formats (the filtered search's cut
                // postings keep f16 upper bounds of the weights).
                if (sum > kHalfMax) {
                    throw std::invalid_argument("document " + std::to_string(row) +
                                                ": summed weight exceeds the f16 range (65504)");
                }
                if (format == WeightFormat::f16) sum = half_to_float(float_to_half(sum));
                // Below the smallest normal float a weight is dropped as zero:
                // the lists' 8-bit codes could not bound it from above.
                if (sum >= std::numeric_limits<float>::min()) out.emplace_back(entries[j].first, sum);
                j = e;
            }
        });
        f.offsets_.assign(n + 1, 0);
        for (std::size_t i = 0; i < n; ++i) f.offsets_[i + 1] = f.offsets_[i] + parts[i].size();
        if (format == WeightFormat::f16) f.entries_.resize(f.offsets_[n]);
        else f.wide_.resize(f.offsets_[n]);
        parallel_for(n, threads, 1024, [&](std::size_t row, std::size_t) {
            std::size_t at = f.offsets_[row];
            for (const auto& [t, w] : parts[row]) {
                if (format == WeightFormat::f16) f.entries_[at] = ForwardEntry{t, float_to_half(w)};
                else f.wide_[at] = ForwardEntry32{t, w};
                ++at;
            }
            std::vector<std::pair<std::uint32_t, float>>().swap(parts[row]);
        });
        return f;
    }

    // Adopts exported arrays after checking them against n_terms (dense ids):
    // `values` (f16 bits) for an f16 index, `weights` for an f32 one; the
    // other is empty.
    static ForwardIndex from_arrays(std::vector<std::uint64_t> offsets, std::vector<std::uint32_t> terms,
                                    std::vector<std::uint16_t> values, std::vector<float> weights,
                                    WeightFormat format, std::size_t n_terms) {
        const bool wide = format == WeightFormat::f32;
        if (offsets.empty() || offsets.front() != 0) {
            throw std::invalid_argument("forward index: offsets must be non-empty and start at 0");
        }
        if ((wide ? weights.size() : values.size()) != terms.size() || (wide ? values.size() : weights.size()) != 0 ||
            offsets.back() != terms.size()) {
            throw std::invalid_argument("forward index: offsets, terms and values disagree in size");
        }
        for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
            if (offsets[i + 1] < offsets[i]) throw std::invalid_argument("forward index: offsets decrease");
            for (std::uint64_t j = offsets[i]; j < offsets[i + 1]; ++j) {
                if (terms[j] >= n_terms || (j > offsets[i] && terms[j] <= terms[j - 1])) {
                    throw std::invalid_argument("forward index: terms out of range or not ascending");
                }
                const bool valid = wide ? ((weights[j] == 0.0f && !std::signbit(weights[j])) ||
                                           (weights[j] >= std::numeric_limits<float>::min() && weights[j] <= kHalfMax))
                                        : half_is_valid_weight(values[j]);
                if (!valid) throw std::invalid_argument("forward index: invalid weight");
            }
        }
        ForwardIndex f;
        f.format_ = format;
        f.offsets_.assign(offsets.begin(), offsets.end());
        if (wide) {
            f.wide_.resize(terms.size());
            for (std::size_t j = 0; j < terms.size(); ++j) f.wide_[j] = ForwardEntry32{terms[j], weights[j]};
        } else {
            f.entries_.resize(terms.size());
            for (std::size_t j = 0; j < terms.size(); ++j) f.entries_[j] = ForwardEntry{terms[j], values[j]};
        }
        return f;
    }

    WeightFormat format() const { return format_; }
    std::size_t size() const { return offsets_.empty() ? 0 : offsets_.size() - 1; }
    std::size_t nnz() const { return offsets_.empty() ? 0 : offsets_.back(); }
    std::size_t length(std::uint32_t doc) const { return offsets_[doc + 1] - offsets_[doc]; }

    // Calls f(term, weight) for each entry of document `doc`, terms ascending.
    template <class F>
    void for_each(std::uint32_t doc, F&& f) const {
        if (format_ == WeightFormat::f32) visit(wide_.data(), doc, f);
        else visit(entries_.data(), doc, f);
    }

    // Inner product of document `doc` with a query held densely by term id;
    // `query_terms` has bit t set iff the query has term t. The bit test skips
    // the (usually many) document terms the query lacks without touching the
    // dense array. Terms are added in document order.
    __attribute__((always_inline)) float score(const float* dense_query, const std::uint64_t* query_terms, std::uint32_t doc) const {
        return format_ == WeightFormat::f32 ? score_row(wide_.data(), dense_query, query_terms, doc)
                                            : score_row(entries_.data(), dense_query, query_terms, doc);
    }

    // Asks the memory system for the first cache lines of a document's row.
    __attribute__((always_inline)) void prefetch_start(std::uint32_t doc) const {
        const char* begin = bytes() + offsets_[doc] * entry_bytes();
        __builtin_prefetch(begin);
        __builtin_prefetch(begin + 64);
    }

    // Asks the memory system for a document's row ahead of scoring it.
    __attribute__((always_inline)) void prefetch(std::uint32_t doc) const {
        const char* begin = bytes() + offsets_[doc] * entry_bytes();
        const char* end = bytes() + offsets_[doc + 1] * entry_bytes();
        for (const char* p = begin; p < end; p += 64) __builtin_prefetch(p);
    }

    const LargeVector<std::uint64_t>& offsets() const { return offsets_; }

    std::vector<std::uint32_t> terms() const {
        std::vector<std::uint32_t> out(nnz());
        for (std::size_t j = 0; j < out.size(); ++j) out[j] = format_ == WeightFormat::f32 ? wide_[j].term : entries_[j].term;
        return out;
    }

    // f16 bits of an f16 index (empty for an f32 one).
    std::vector<std::uint16_t> values() const {
        std::vector<std::uint16_t> out(entries_.size());
        for (std::size_t j = 0; j < out.size(); ++j) out[j] = entries_[j].value;
        return out;
    }

    // Weights of an f32 index (empty for an f16 one).
    std::vector<float> weights() const {
        std::vector<float> out(wide_.size());
        for (std::size_t j = 0; j < out.size(); ++j) out[j] = wide_[j].value;
        return out;
    }

    std::size_t memory_bytes() const {
        return offsets_.size() * sizeof(std::uint64_t) + nnz() * entry_bytes();
    }

private:
    std::size_t entry_bytes() const {
        return format_ == WeightFormat::f32 ? sizeof(ForwardEntry32) : sizeof(ForwardEntry);
    }
    const char* bytes() const {
        return format_ == WeightFormat::f32 ? reinterpret_cast<const char*>(wide_.data())
                                            : reinterpret_cast<const char*>(entries_.data());
    }

    template <class Entry, class F>
    void visit(const Entry* entries, std::uint32_t doc, F& f) const {
        const Entry* end = entries + offsets_[doc + 1];
        for (const Entry* e = entries + offsets_[doc]; e != end; ++e) f(e->term, e->weight());
    }

    template <class Entry>
    __attribute__((always_inline)) float score_row(const Entry* entries, const float* dense_query, const std::uint64_t* query_terms,
                    std::uint32_t doc) const {
        const Entry* e = entries + offsets_[doc];
        const Entry* end = entries + offsets_[doc + 1];
        float sum = 0.0f;
        for (; e != end; ++e) {
            const std::uint32_t term = e->term;
            // Most of a row's terms are not the query's: a branch (not a
            // select, which would decode every f16 weight) skips them.
            if (__builtin_expect((query_terms[term >> 6] >> (term & 63)) & 1u, 0)) {
                sum += dense_query[term] * e->weight();
            }
        }
        return sum;
    }

    WeightFormat format_ = WeightFormat::f32;
    // Rows are read at random: large arrays are on huge pages (huge_pages.h).
    LargeVector<std::uint64_t> offsets_;
    LargeVector<ForwardEntry> entries_;  // f16 format
    LargeVector<ForwardEntry32> wide_;   // f32 format
};

}  // namespace fanns::sparse
