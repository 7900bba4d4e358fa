// Quantised block summaries. A block's summary estimates the best score any of
// its documents can reach: for each summarised term, the largest weight any of
// the block's documents has for it, quantised to u8 (code * step, rounded up,
// step = the block's largest kept weight / 255). The list's own term, which
// every document of the block has, is kept apart (one code per block), so a
// visited block can also bound each of its documents with the document's own
// weight for that term.
//
// Which terms are summarised. Only the summary vocabulary: terms whose posting
// list spans several blocks (at most 65535 of them, those with the longest
// lists), numbered densely so an entry is a u16. A query term whose list is a
// single block has that block visited in full whenever the term is among the
// lists traversed, so its entries elsewhere would cost memory for little
// ranking power. Of a block's vocabulary terms, those with the largest total
// weight over the block's documents come first (terms many of its documents
// share, which is what the clustering grouped them by), kept until `energy`
// of that total mass is reached and at most `cap` of them.
//
// Layout: block b's entries are [block_offsets[b], block_offsets[b+1]) of
// entry_terms / entry_codes. A list of a single block (at most block_size
// documents) has no entries: it is cheap to score, and is always visited.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sparse/forward_index.h"
#include "sparse/half.h"
#include "sparse/posting_lists.h"

namespace fanns::sparse {

// Most terms the summary vocabulary may hold (entries name them with a u16).
constexpr std::size_t kMaxSummaryTerms = 65535;
constexpr std::uint16_t kNotSummarised = 0xffffu;

// The summary vocabulary: for each dense term, its summary id or kNotSummarised.
// Terms whose list is longer than one block qualify; if there are too many,
// those with the longest lists win (ties: smaller term id).
inline std::vector<std::uint16_t> summary_vocabulary(const std::vector<std::uint64_t>& list_lengths,
                                                     std::size_t block_size) {
    std::vector<std::uint32_t> eligible;
    for (std::size_t t = 0; t < list_lengths.size(); ++t) {
        if (list_lengths[t] > block_size) eligible.push_back(static_cast<std::uint32_t>(t));
    }
    if (eligible.size() > kMaxSummaryTerms) {
        std::stable_sort(eligible.begin(), eligible.end(),
                         [&](std::uint32_t a, std::uint32_t b) { return list_lengths[a] > list_lengths[b]; });
        eligible.resize(kMaxSummaryTerms);
        std::sort(eligible.begin(), eligible.end());
    }
    std::vector<std::uint16_t> ids(list_lengths.size(), kNotSummarised);
    for (std::size_t i = 0; i < eligible.size(); ++i) ids[eligible[i]] = static_cast<std::uint16_t>(i);
    return ids;
}

// One list's summaries before they are concatenated with the others'.
struct ListSummaries {
    std::vector<std::uint32_t> block_entries;  // entries per block
    std::vector<std::uint16_t> entry_terms;    // summary ids
    std::vector<std::uint8_t> entry_codes;
    std::vector<std::uint8_t> list_codes;  // per block: the list term's code
    std::vector<float> steps;              // per block
};

struct SummaryScratch {
    std::vector<float> max_weight;  // indexed by dense term, zero between calls
    std::vector<float> sum_weight;  // likewise
    std::vector<std::uint32_t> touched;
    std::vector<std::pair<std::uint32_t, float>> ranked;

    explicit SummaryScratch(std::size_t n_terms) : max_weight(n_terms, 0.0f), sum_weight(n_terms, 0.0f) {}
};

inline std::uint8_t quantise_up(float weight, float step) {
    if (!(step > 0.0f)) return 0;
    const float q = std::ceil(weight / step);
    return static_cast<std::uint8_t>(std::min(255.0f, std::max(1.0f, q)));
}

// Summaries of the blocks docs[block_starts[i] .. block_starts[i+1]) of the
// list of `list_term`; `vocabulary` maps dense terms to summary ids; `cap`
// bounds the entries per block (0: no bound).
inline ListSummaries summarise_list(const ForwardIndex& forward, const std::vector<std::uint32_t>& docs,
                                    const std::vector<std::size_t>& block_starts, std::uint32_t list_term,
                                    float energy, std::size_t cap, const std::vector<std::uint16_t>& vocabulary,
                                    SummaryScratch& s) {
    ListSummaries out;
    const std::size_t n_blocks = block_starts.empty() ? 0 : block_starts.size() - 1;
    out.steps.assign(n_blocks, 0.0f);
    out.list_codes.assign(n_blocks, 0);
    out.block_entries.assign(n_blocks, 0);
    if (n_blocks <= 1) return out;
    for (std::size_t b = 0; b < n_blocks; ++b) {
        s.touched.clear();
        float list_max = 0.0f;
        for (std::size_t i = block_starts[b]; i < block_starts[b + 1]; ++i) {
            const std::uint32_t doc = docs[i];
            forward.for_each(doc, [&](std::uint32_t term, float w) {
                if (term == list_term) {
                    list_max = std::max(list_max, w);
                    return;
                }
                if (vocabulary[term] == kNotSummarised) return;
                if (s.sum_weight[term] == 0.0f) s.touched.push_back(term);
                s.max_weight[term] = std::max(s.max_weight[term], w);
                s.sum_weight[term] += w;
            });
        }
        s.ranked.clear();
        double total = 0.0;
        for (std::uint32_t t : s.touched) {
            s.ranked.emplace_back(t, s.sum_weight[t]);
            total += s.sum_weight[t];
        }
        auto heavier = [](const auto& a, const auto& b) {
            return a.second > b.second || (a.second == b.second && a.first < b.first);
        };
        std::size_t keep = cap == 0 ? s.ranked.size() : std::min(cap, s.ranked.size());
        if (energy < 1.0f) {
            std::sort(s.ranked.begin(), s.ranked.end(), heavier);
            const double target = static_cast<double>(energy) * total;
            double mass = 0.0;
            std::size_t n = 0;
            while (n < keep && (n == 0 || mass < target)) mass += s.ranked[n++].second;
            keep = n;
        } else if (keep < s.ranked.size()) {
            std::nth_element(s.ranked.begin(), s.ranked.begin() + static_cast<std::ptrdiff_t>(keep), s.ranked.end(),
                             heavier);
        }
        // Kept entries in summary-id order: reading them walks the query array forwards.
        std::sort(s.ranked.begin(), s.ranked.begin() + static_cast<std::ptrdiff_t>(keep),
                  [&](const auto& a, const auto& c) { return vocabulary[a.first] < vocabulary[c.first]; });
        float block_max = list_max;
        for (std::size_t j = 0; j < keep; ++j) block_max = std::max(block_max, s.max_weight[s.ranked[j].first]);
        const float step = block_max / 255.0f;
        out.steps[b] = step;
        out.list_codes[b] = quantise_up(list_max, step);
        out.block_entries[b] = static_cast<std::uint32_t>(keep);
        for (std::size_t j = 0; j < keep; ++j) {
            const std::uint32_t t = s.ranked[j].first;
            out.entry_terms.push_back(vocabulary[t]);
            out.entry_codes.push_back(quantise_up(s.max_weight[t], step));
        }
        for (std::uint32_t t : s.touched) s.max_weight[t] = s.sum_weight[t] = 0.0f;
    }
    return out;
}

// Every list's summaries, concatenated in term order.
class BlockSummaries {
public:
    BlockSummaries() = default;

    // Concatenates per-list parts (consumed), in list order.
    static BlockSummaries concatenate(std::vector<ListSummaries>& parts, std::vector<std::uint16_t> vocabulary) {
        BlockSummaries s;
        std::size_t n_entries = 0, n_blocks = 0;
        for (const auto& p : parts) {
            n_entries += p.entry_terms.size();
            n_blocks += p.steps.size();
        }
        s.set_vocabulary(vocabulary);
        s.block_offsets_.reserve(n_blocks + 1);
        s.entry_terms_.reserve(n_entries);
        s.entry_codes_.reserve(n_entries);
        s.list_codes_.reserve(n_blocks);
        s.steps_.reserve(n_blocks);
        s.block_offsets_.push_back(0);
        for (auto& p : parts) {
            for (std::uint32_t e : p.block_entries) s.block_offsets_.push_back(s.block_offsets_.back() + e);
            s.entry_terms_.insert(s.entry_terms_.end(), p.entry_terms.begin(), p.entry_terms.end());
            s.entry_codes_.insert(s.entry_codes_.end(), p.entry_codes.begin(), p.entry_codes.end());
            s.list_codes_.insert(s.list_codes_.end(), p.list_codes.begin(), p.list_codes.end());
            s.steps_.insert(s.steps_.end(), p.steps.begin(), p.steps.end());
            p = ListSummaries();
        }
        return s;
    }

    // Adopts exported arrays, checking them against the posting lists.
    static BlockSummaries from_arrays(std::vector<std::uint32_t> vocabulary, std::vector<std::uint64_t> block_offsets,
                                      std::vector<std::uint16_t> entry_terms, std::vector<std::uint8_t> entry_codes,
                                      std::vector<std::uint8_t> list_codes, std::vector<float> steps,
                                      const BlockedPostingLists& lists) {
        auto bad = [](const char* what) { throw std::invalid_argument(std::string("summaries: ") + what); };
        const std::size_t n_lists = lists.n_terms();
        const std::size_t n_blocks = lists.n_blocks();
        if (vocabulary.size() > kMaxSummaryTerms) bad("vocabulary too large");
        for (std::size_t i = 0; i < vocabulary.size(); ++i) {
            if (vocabulary[i] >= n_lists || (i > 0 && vocabulary[i] <= vocabulary[i - 1])) {
                bad("vocabulary terms out of range or not ascending");
            }
        }
        if (block_offsets.size() != n_blocks + 1 || block_offsets.front() != 0) {
            bad("block offsets must start at 0 with one per block");
        }
        for (std::size_t b = 0; b < n_blocks; ++b) {
            if (block_offsets[b + 1] < block_offsets[b]) bad("block offsets decrease");
        }
        if (block_offsets.back() != entry_terms.size() || entry_codes.size() != entry_terms.size()) {
            bad("entry arrays disagree in size");
        }
        if (list_codes.size() != n_blocks || steps.size() != n_blocks) bad("one code and step per block expected");
        for (float step : steps) {
            if (!(step >= 0.0f) || !std::isfinite(step)) bad("invalid quantisation step");
        }
        for (std::uint16_t t : entry_terms) {
            if (t >= vocabulary.size()) bad("entry names a term outside the vocabulary");
        }
        BlockSummaries s;
        s.vocabulary_ = std::move(vocabulary);
        s.block_offsets_ = std::move(block_offsets);
        s.entry_terms_ = std::move(entry_terms);
        s.entry_codes_ = std::move(entry_codes);
        s.list_codes_ = std::move(list_codes);
        s.steps_ = std::move(steps);
        return s;
    }

    std::size_t vocabulary_size() const { return vocabulary_.size(); }
    // Summary id of a dense term, or kNotSummarised.
    std::uint16_t summary_id(std::uint32_t term) const {
        auto it = std::lower_bound(vocabulary_.begin(), vocabulary_.end(), term);
        if (it == vocabulary_.end() || *it != term) return kNotSummarised;
        return static_cast<std::uint16_t>(it - vocabulary_.begin());
    }

    // Estimates of block b from `query` (weights by summary id, zero for terms
    // the query lacks): the part from other terms and the list term's largest
    // weight in the block (multiply by the query's weight for it).
    float other_terms(std::uint64_t b, const float* query) const {
        const std::uint16_t* t = entry_terms_.data() + block_offsets_[b];
        const std::uint8_t* c = entry_codes_.data() + block_offsets_[b];
        const std::size_t n = static_cast<std::size_t>(block_offsets_[b + 1] - block_offsets_[b]);
        float a0 = 0.0f, a1 = 0.0f;
        std::size_t i = 0;
        for (; i + 1 < n; i += 2) {
            a0 += query[t[i]] * static_cast<float>(c[i]);
            a1 += query[t[i + 1]] * static_cast<float>(c[i + 1]);
        }
        if (i < n) a0 += query[t[i]] * static_cast<float>(c[i]);
        return (a0 + a1) * steps_[b];
    }
    float list_term_max(std::uint64_t b) const { return static_cast<float>(list_codes_[b]) * steps_[b]; }

    std::vector<std::uint32_t> vocabulary() const { return vocabulary_; }
    const std::vector<std::uint64_t>& block_offsets() const { return block_offsets_; }
    const std::vector<std::uint16_t>& entry_terms() const { return entry_terms_; }
    const std::vector<std::uint8_t>& entry_codes() const { return entry_codes_; }
    const std::vector<std::uint8_t>& list_codes() const { return list_codes_; }
    const std::vector<float>& steps() const { return steps_; }
    std::size_t n_entries() const { return entry_terms_.size(); }

    std::size_t memory_bytes() const {
        return vocabulary_.size() * sizeof(std::uint32_t) + block_offsets_.size() * sizeof(std::uint64_t) +
               entry_terms_.size() * (sizeof(std::uint16_t) + sizeof(std::uint8_t)) +
               list_codes_.size() * sizeof(std::uint8_t) + steps_.size() * sizeof(float);
    }

private:
    void set_vocabulary(const std::vector<std::uint16_t>& ids) {
        vocabulary_.clear();
        for (std::size_t t = 0; t < ids.size(); ++t) {
            if (ids[t] != kNotSummarised) vocabulary_.push_back(static_cast<std::uint32_t>(t));
        }
    }

    std::vector<std::uint32_t> vocabulary_;  // dense term of each summary id, ascending
    std::vector<std::uint64_t> block_offsets_;
    std::vector<std::uint16_t> entry_terms_;
    std::vector<std::uint8_t> entry_codes_;
    std::vector<std::uint8_t> list_codes_;
    std::vector<float> steps_;
};

}  // namespace fanns::sparse
