// Quantised block summaries. A block's summary is, for each term of its
// documents, the largest weight any of them has for it; the smallest terms
// are pruned away until only `energy` of the summary's L1 mass remains (the
// list's own term, which every document of the block has, is always kept),
// and the rest is quantised to u8 (code * step, rounded up, step = max / 255).
// Its inner product with a query estimates the best score in the block.
//
// A list's summaries are stored inverted (term -> (block, code) entries), so
// a query touches only the entries of its own terms and scores every block
// of a list in one pass. A list of a single block (at most block_size
// documents) has no summary: it is cheap to score, and is always visited.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sparse/forward_index.h"
#include "sparse/half.h"
#include "sparse/posting_lists.h"

namespace fanns::sparse {

// One list's summaries before they are concatenated with the others'.
struct ListSummaries {
    std::vector<std::uint32_t> terms;      // distinct terms, ascending
    std::vector<std::uint32_t> entry_end;  // per term: end of its entries (relative to the list)
    std::vector<std::uint16_t> entry_block;
    std::vector<std::uint8_t> entry_code;
    std::vector<float> steps;  // per block
};

struct SummaryScratch {
    std::vector<float> max_weight;  // indexed by term, zero between calls
    std::vector<std::uint32_t> touched;
    std::vector<std::pair<std::uint32_t, float>> kept;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> triples;  // (term, block << 8 | code)

    explicit SummaryScratch(std::size_t n_terms) : max_weight(n_terms, 0.0f) {}
};

// Summaries of the blocks docs[block_starts[i] .. block_starts[i+1]).
inline ListSummaries summarise_list(const ForwardIndex& forward, const std::vector<std::uint32_t>& docs,
                                    const std::vector<std::size_t>& block_starts, std::uint32_t list_term,
                                    float energy, SummaryScratch& s) {
    ListSummaries out;
    const std::size_t n_blocks = block_starts.empty() ? 0 : block_starts.size() - 1;
    out.steps.resize(n_blocks, 0.0f);
    if (n_blocks <= 1) return out;
    s.triples.clear();
    for (std::size_t b = 0; b < n_blocks; ++b) {
        s.touched.clear();
        for (std::size_t i = block_starts[b]; i < block_starts[b + 1]; ++i) {
            const std::uint32_t doc = docs[i];
            const ForwardEntry* row = forward.row(doc);
            const std::size_t len = forward.length(doc);
            for (std::size_t j = 0; j < len; ++j) {
                float& slot = s.max_weight[row[j].term];
                if (slot == 0.0f) s.touched.push_back(row[j].term);
                slot = std::max(slot, half_to_float(row[j].value));
            }
        }
        s.kept.clear();
        double total = 0.0;
        float block_max = 0.0f;
        for (std::uint32_t t : s.touched) {
            s.kept.emplace_back(t, s.max_weight[t]);
            total += s.max_weight[t];
            block_max = std::max(block_max, s.max_weight[t]);
        }
        if (s.kept.empty()) continue;
        std::sort(s.kept.begin(), s.kept.end(), [](const auto& a, const auto& b) {
            return a.second > b.second || (a.second == b.second && a.first < b.first);
        });
        std::size_t keep = s.kept.size();
        if (energy < 1.0f) {
            const double target = static_cast<double>(energy) * total;
            double mass = 0.0;
            keep = 0;
            while (keep < s.kept.size() && (keep == 0 || mass < target)) mass += s.kept[keep++].second;
            for (std::size_t j = keep; j < s.kept.size(); ++j) {
                if (s.kept[j].first == list_term) {
                    std::swap(s.kept[keep], s.kept[j]);
                    ++keep;
                    break;
                }
            }
        }
        const float step = block_max / 255.0f;
        out.steps[b] = step;
        for (std::size_t j = 0; j < keep; ++j) {
            const float q = std::ceil(s.max_weight[s.kept[j].first] / step);
            const auto code = static_cast<std::uint32_t>(std::min(255.0f, std::max(1.0f, q)));
            s.triples.emplace_back(s.kept[j].first, static_cast<std::uint32_t>(b << 8) | code);
        }
        for (std::uint32_t t : s.touched) s.max_weight[t] = 0.0f;
    }
    if (s.triples.size() > 0xffffffffull) throw std::length_error("summaries of one list exceed 2^32 entries");
    std::sort(s.triples.begin(), s.triples.end());
    out.entry_block.reserve(s.triples.size());
    out.entry_code.reserve(s.triples.size());
    for (std::size_t i = 0; i < s.triples.size(); ++i) {
        const auto [term, packed] = s.triples[i];
        if (i == 0 || term != s.triples[i - 1].first) {
            if (!out.terms.empty()) out.entry_end.push_back(static_cast<std::uint32_t>(i));
            out.terms.push_back(term);
        }
        out.entry_block.push_back(static_cast<std::uint16_t>(packed >> 8));
        out.entry_code.push_back(static_cast<std::uint8_t>(packed & 0xffu));
    }
    if (!out.terms.empty()) out.entry_end.push_back(static_cast<std::uint32_t>(s.triples.size()));
    return out;
}

// Every list's summaries, concatenated in term order.
class BlockSummaries {
public:
    BlockSummaries() = default;

    // Concatenates per-list parts (consumed) for lists whose blocks are
    // numbered consecutively from 0.
    static BlockSummaries concatenate(std::vector<ListSummaries>& parts) {
        BlockSummaries s;
        std::size_t n_terms = 0, n_entries = 0, n_blocks = 0;
        for (const auto& p : parts) {
            n_terms += p.terms.size();
            n_entries += p.entry_block.size();
            n_blocks += p.steps.size();
        }
        s.list_term_offsets_.reserve(parts.size() + 1);
        s.list_entry_offsets_.reserve(parts.size() + 1);
        s.terms_.reserve(n_terms);
        s.entry_end_.reserve(n_terms);
        s.entry_block_.reserve(n_entries);
        s.entry_code_.reserve(n_entries);
        s.steps_.reserve(n_blocks);
        s.list_term_offsets_.push_back(0);
        s.list_entry_offsets_.push_back(0);
        for (auto& p : parts) {
            s.terms_.insert(s.terms_.end(), p.terms.begin(), p.terms.end());
            s.entry_end_.insert(s.entry_end_.end(), p.entry_end.begin(), p.entry_end.end());
            s.entry_block_.insert(s.entry_block_.end(), p.entry_block.begin(), p.entry_block.end());
            s.entry_code_.insert(s.entry_code_.end(), p.entry_code.begin(), p.entry_code.end());
            s.steps_.insert(s.steps_.end(), p.steps.begin(), p.steps.end());
            s.list_term_offsets_.push_back(s.terms_.size());
            s.list_entry_offsets_.push_back(s.entry_block_.size());
            p = ListSummaries();
        }
        return s;
    }

    // Adopts exported arrays, checking them against the posting lists.
    static BlockSummaries from_arrays(std::vector<std::uint64_t> list_term_offsets,
                                      std::vector<std::uint64_t> list_entry_offsets,
                                      std::vector<std::uint32_t> terms, std::vector<std::uint32_t> entry_end,
                                      std::vector<std::uint16_t> entry_block, std::vector<std::uint8_t> entry_code,
                                      std::vector<float> steps, const BlockedPostingLists& lists) {
        auto bad = [](const char* what) { throw std::invalid_argument(std::string("summaries: ") + what); };
        const std::size_t n_lists = lists.n_terms();
        if (list_term_offsets.size() != n_lists + 1 || list_entry_offsets.size() != n_lists + 1) {
            bad("offset arrays have the wrong size");
        }
        if (list_term_offsets.front() != 0 || list_entry_offsets.front() != 0) bad("offsets must start at 0");
        if (list_term_offsets.back() != terms.size() || entry_end.size() != terms.size()) {
            bad("term arrays disagree in size");
        }
        if (list_entry_offsets.back() != entry_block.size() || entry_code.size() != entry_block.size()) {
            bad("entry arrays disagree in size");
        }
        if (steps.size() != lists.n_blocks()) bad("one step per block expected");
        for (float step : steps) {
            if (!(step >= 0.0f) || !std::isfinite(step)) bad("invalid quantisation step");
        }
        for (std::size_t t = 0; t < n_lists; ++t) {
            const std::uint64_t tb = list_term_offsets[t], te = list_term_offsets[t + 1];
            const std::uint64_t eb = list_entry_offsets[t], ee = list_entry_offsets[t + 1];
            if (te < tb || ee < eb) bad("offsets decrease");
            const std::uint64_t blocks_in_list = lists.end_block(static_cast<std::uint32_t>(t)) -
                                                 lists.first_block(static_cast<std::uint32_t>(t));
            std::uint64_t previous_end = 0;
            for (std::uint64_t j = tb; j < te; ++j) {
                if (terms[j] >= n_lists || (j > tb && terms[j] <= terms[j - 1])) {
                    bad("terms out of range or not ascending");
                }
                if (entry_end[j] < previous_end || eb + entry_end[j] > ee) bad("entry offsets out of range");
                previous_end = entry_end[j];
            }
            if (te > tb && eb + previous_end != ee) bad("entries of a list are not all addressed");
            if (te == tb && ee != eb) bad("entries without terms");
            for (std::uint64_t e = eb; e < ee; ++e) {
                if (entry_block[e] >= blocks_in_list) bad("entry names a block outside its list");
            }
        }
        BlockSummaries s;
        s.list_term_offsets_ = std::move(list_term_offsets);
        s.list_entry_offsets_ = std::move(list_entry_offsets);
        s.terms_ = std::move(terms);
        s.entry_end_ = std::move(entry_end);
        s.entry_block_ = std::move(entry_block);
        s.entry_code_ = std::move(entry_code);
        s.steps_ = std::move(steps);
        return s;
    }

    // Estimated best score of every block of list `term` for the query
    // (sorted dense term ids with weights); writes block_score[0 .. n_blocks).
    void score_list(std::uint32_t term, std::uint64_t first_block, std::size_t n_blocks,
                    const std::uint32_t* query_terms, const float* query_weights, std::size_t query_len,
                    float* block_score) const {
        std::fill(block_score, block_score + n_blocks, 0.0f);
        const std::uint32_t* dict = terms_.data() + list_term_offsets_[term];
        const std::uint32_t* dict_end = terms_.data() + list_term_offsets_[term + 1];
        const std::uint32_t* ends = entry_end_.data() + list_term_offsets_[term];
        const std::uint16_t* blocks = entry_block_.data() + list_entry_offsets_[term];
        const std::uint8_t* codes = entry_code_.data() + list_entry_offsets_[term];
        const std::uint32_t* cursor = dict;
        for (std::size_t i = 0; i < query_len && cursor != dict_end; ++i) {
            cursor = std::lower_bound(cursor, dict_end, query_terms[i]);
            if (cursor == dict_end) break;
            if (*cursor != query_terms[i]) continue;
            const std::size_t at = static_cast<std::size_t>(cursor - dict);
            const std::uint32_t begin = at == 0 ? 0 : ends[at - 1];
            const std::uint32_t end = ends[at];
            const float w = query_weights[i];
            for (std::uint32_t e = begin; e < end; ++e) block_score[blocks[e]] += w * static_cast<float>(codes[e]);
        }
        const float* step = steps_.data() + first_block;
        for (std::size_t b = 0; b < n_blocks; ++b) block_score[b] *= step[b];
    }

    const std::vector<std::uint64_t>& list_term_offsets() const { return list_term_offsets_; }
    const std::vector<std::uint64_t>& list_entry_offsets() const { return list_entry_offsets_; }
    const std::vector<std::uint32_t>& terms() const { return terms_; }
    const std::vector<std::uint32_t>& entry_end() const { return entry_end_; }
    const std::vector<std::uint16_t>& entry_block() const { return entry_block_; }
    const std::vector<std::uint8_t>& entry_code() const { return entry_code_; }
    const std::vector<float>& steps() const { return steps_; }
    std::size_t n_entries() const { return entry_block_.size(); }

    std::size_t memory_bytes() const {
        return (list_term_offsets_.size() + list_entry_offsets_.size()) * sizeof(std::uint64_t) +
               (terms_.size() + entry_end_.size()) * sizeof(std::uint32_t) +
               entry_block_.size() * (sizeof(std::uint16_t) + sizeof(std::uint8_t)) + steps_.size() * sizeof(float);
    }

private:
    std::vector<std::uint64_t> list_term_offsets_;   // per list: its range of terms_
    std::vector<std::uint64_t> list_entry_offsets_;  // per list: its range of entries
    std::vector<std::uint32_t> terms_;
    std::vector<std::uint32_t> entry_end_;
    std::vector<std::uint16_t> entry_block_;
    std::vector<std::uint8_t> entry_code_;
    std::vector<float> steps_;
};

}  // namespace fanns::sparse
