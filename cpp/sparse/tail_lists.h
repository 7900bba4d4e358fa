// What static pruning cut from each term's list: the postings of the forward
// index that the term's kept list does not hold ("tails"), by term, documents
// ascending, with their weights as f16 rounded up (exact for an f16 forward
// index, an upper bound for an f32 one), and per term the largest of them (0
// when nothing was cut). Both are only ever used as upper bounds: scores come
// from the forward index.
//
// Filtered search uses both. The cut weight bounds what an accumulation over
// the kept lists cannot see: a document absent from term t's kept list has
// w_{d,t} <= cut(t). The tails complete the kept lists into the full ones, so
// a filtered query whose answer the kept lists do not certify can accumulate
// every passing document's score (kept list + tail of each query term).
//
// Built from the forward index and the kept lists (it is their difference),
// so any valid index yields correct tails whatever rule pruned it. Not saved:
// the index builds it on the first filtered query that needs it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sparse/forward_index.h"
#include "sparse/half.h"
#include "sparse/posting_lists.h"

namespace fanns::sparse {

class TailLists {
public:
    TailLists() = default;

    static TailLists build(const ForwardIndex& forward, const BlockedPostingLists& lists) {
        TailLists t;
        const std::size_t n_terms = lists.n_terms();
        const std::size_t n_docs = forward.size();
        // Full lists by term (a counting sort of the forward entries), then each
        // compacted in place to the documents its kept list lacks.
        std::vector<std::uint64_t> offsets(n_terms + 1, 0);
        for (std::size_t d = 0; d < n_docs; ++d) {
            const auto doc = static_cast<std::uint32_t>(d);
            forward.for_each(doc, [&](std::uint32_t term, float) { ++offsets[term + 1]; });
        }
        for (std::size_t i = 0; i < n_terms; ++i) offsets[i + 1] += offsets[i];
        std::vector<std::uint32_t> docs(forward.nnz());
        std::vector<std::uint16_t> values(forward.nnz());
        {
            std::vector<std::uint64_t> cursor(offsets.begin(), offsets.end() - 1);
            for (std::size_t d = 0; d < n_docs; ++d) {
                const auto doc = static_cast<std::uint32_t>(d);
                forward.for_each(doc, [&](std::uint32_t term, float w) {
                    const std::uint64_t at = cursor[term]++;
                    docs[at] = doc;
                    values[at] = half_at_least(w);
                });
            }
        }
        std::vector<std::uint64_t> stamp(n_docs, 0);  // term + 1 of the last kept list marked
        t.offsets_.assign(n_terms + 1, 0);
        t.cut_.assign(n_terms, 0.0f);
        std::uint64_t out = 0;
        const std::uint32_t* kept = lists.docs().data();
        for (std::size_t term = 0; term < n_terms; ++term) {
            const auto mark = static_cast<std::uint64_t>(term) + 1;
            const auto tt = static_cast<std::uint32_t>(term);
            for (std::uint64_t j = lists.posting_begin(tt); j < lists.posting_end(tt); ++j) stamp[kept[j]] = mark;
            float cut = 0.0f;
            for (std::uint64_t j = offsets[term]; j < offsets[term + 1]; ++j) {
                if (stamp[docs[j]] == mark) continue;
                docs[out] = docs[j];
                values[out] = values[j];
                cut = std::max(cut, half_to_float(values[j]));
                ++out;
            }
            t.offsets_[term + 1] = out;
            t.cut_[term] = cut;
        }
        docs.resize(out);
        values.resize(out);
        docs.shrink_to_fit();
        values.shrink_to_fit();
        t.docs_ = std::move(docs);
        t.values_ = std::move(values);
        return t;
    }

    std::size_t n_postings() const { return docs_.size(); }
    std::uint64_t begin(std::uint32_t term) const { return offsets_[term]; }
    std::uint64_t end(std::uint32_t term) const { return offsets_[term + 1]; }
    std::uint64_t length(std::uint32_t term) const { return offsets_[term + 1] - offsets_[term]; }
    // Largest weight of the term in a document its kept list lacks (0: none).
    float cut(std::uint32_t term) const { return cut_[term]; }
    const std::uint32_t* docs() const { return docs_.data(); }
    const std::uint16_t* values() const { return values_.data(); }

    std::size_t memory_bytes() const {
        return offsets_.size() * sizeof(std::uint64_t) + cut_.size() * sizeof(float) +
               docs_.size() * (sizeof(std::uint32_t) + sizeof(std::uint16_t));
    }

private:
    std::vector<std::uint64_t> offsets_;
    std::vector<float> cut_;
    std::vector<std::uint32_t> docs_;
    std::vector<std::uint16_t> values_;
};

}  // namespace fanns::sparse
