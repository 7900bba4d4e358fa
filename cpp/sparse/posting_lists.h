// Statically pruned, blocked posting lists. Each term keeps at most
// n_postings documents (its largest weights); those are grouped into blocks of
// similar documents, and a block is the unit a query either skips (by its
// summary) or scores in full (through the forward index).
//
// Layout: term t owns blocks [list_offsets[t], list_offsets[t+1]); block b
// owns documents docs[block_offsets[b] .. block_offsets[b+1]), ascending.
// codes[j] is docs[j]'s weight for the list's term, quantised to u8 rounded up
// (weight <= code * list_max / 255), so a visited block can bound each of its
// documents before scoring it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fanns::sparse {

// Most blocks one list may have, so a block is addressed by 16 bits within it.
constexpr std::size_t kMaxBlocksPerList = 65536;

struct Posting {
    std::uint32_t doc;
    float weight;
};

// Keeps the `keep` postings with the largest weights (ties: smaller doc id),
// returned in ascending doc order. keep == 0 keeps everything.
inline std::vector<Posting> prune_postings(std::vector<Posting> list, std::size_t keep) {
    if (keep != 0 && list.size() > keep) {
        auto heavier = [](const Posting& a, const Posting& b) {
            return a.weight > b.weight || (a.weight == b.weight && a.doc < b.doc);
        };
        std::nth_element(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(keep), list.end(), heavier);
        list.resize(keep);
        std::sort(list.begin(), list.end(), [](const Posting& a, const Posting& b) { return a.doc < b.doc; });
    }
    return list;
}

class BlockedPostingLists {
public:
    BlockedPostingLists() = default;

    BlockedPostingLists(std::vector<std::uint64_t> list_offsets, std::vector<std::uint64_t> block_offsets,
                        std::vector<std::uint32_t> docs, std::vector<std::uint8_t> codes, std::vector<float> list_max,
                        std::size_t n_docs)
        : list_offsets_(std::move(list_offsets)),
          block_offsets_(std::move(block_offsets)),
          docs_(std::move(docs)),
          codes_(std::move(codes)),
          list_max_(std::move(list_max)) {
        validate(n_docs);
    }

    std::size_t n_terms() const { return list_offsets_.empty() ? 0 : list_offsets_.size() - 1; }
    std::size_t n_blocks() const { return block_offsets_.empty() ? 0 : block_offsets_.size() - 1; }
    std::size_t n_postings() const { return docs_.size(); }

    std::uint64_t first_block(std::uint32_t term) const { return list_offsets_[term]; }
    std::uint64_t end_block(std::uint32_t term) const { return list_offsets_[term + 1]; }
    std::uint64_t list_length(std::uint32_t term) const {
        return block_offsets_[list_offsets_[term + 1]] - block_offsets_[list_offsets_[term]];
    }
    // Postings of a term's list: docs()[posting_begin .. posting_end), blocks one after another.
    std::uint64_t posting_begin(std::uint32_t term) const { return block_offsets_[list_offsets_[term]]; }
    std::uint64_t posting_end(std::uint32_t term) const { return block_offsets_[list_offsets_[term + 1]]; }
    const std::uint32_t* block_begin(std::uint64_t block) const { return docs_.data() + block_offsets_[block]; }
    const std::uint32_t* block_end(std::uint64_t block) const { return docs_.data() + block_offsets_[block + 1]; }
    const std::uint8_t* block_codes(std::uint64_t block) const { return codes_.data() + block_offsets_[block]; }
    // Weight of one unit of a posting code of list `term`.
    float code_step(std::uint32_t term) const { return list_max_[term] / 255.0f; }

    // Largest weight of the term in any document (the kept postings hold it).
    float list_max(std::uint32_t term) const { return list_max_[term]; }

    const std::vector<std::uint64_t>& list_offsets() const { return list_offsets_; }
    const std::vector<std::uint64_t>& block_offsets() const { return block_offsets_; }
    const std::vector<std::uint32_t>& docs() const { return docs_; }
    const std::vector<std::uint8_t>& codes() const { return codes_; }
    const std::vector<float>& list_maxima() const { return list_max_; }

    std::size_t memory_bytes() const {
        return list_offsets_.size() * sizeof(std::uint64_t) + block_offsets_.size() * sizeof(std::uint64_t) +
               docs_.size() * (sizeof(std::uint32_t) + sizeof(std::uint8_t)) + list_max_.size() * sizeof(float);
    }

private:
    void validate(std::size_t n_docs) const {
        auto bad = [](const char* what) { throw std::invalid_argument(std::string("posting lists: ") + what); };
        if (list_offsets_.empty() || list_offsets_.front() != 0) bad("list offsets must start at 0");
        if (block_offsets_.empty() || block_offsets_.front() != 0) bad("block offsets must start at 0");
        if (list_offsets_.back() != block_offsets_.size() - 1) bad("list offsets do not cover the blocks");
        if (block_offsets_.back() != docs_.size()) bad("block offsets do not cover the documents");
        if (codes_.size() != docs_.size()) bad("one code per posting expected");
        if (list_max_.size() != n_terms()) bad("list maxima have the wrong size");
        for (std::size_t t = 0; t + 1 < list_offsets_.size(); ++t) {
            if (list_offsets_[t + 1] < list_offsets_[t]) bad("list offsets decrease");
            if (list_offsets_[t + 1] - list_offsets_[t] > kMaxBlocksPerList) bad("a list has too many blocks");
            if (!(list_max_[t] >= 0.0f) || list_max_[t] > 65504.0f) bad("invalid list maximum");
        }
        for (std::size_t b = 0; b + 1 < block_offsets_.size(); ++b) {
            if (block_offsets_[b + 1] < block_offsets_[b]) bad("block offsets decrease");
        }
        for (std::uint32_t d : docs_) {
            if (d >= n_docs) bad("document id out of range");
        }
        for (std::uint8_t c : codes_) {
            if (c == 0) bad("posting codes must be at least 1");  // weights are positive, rounded up
        }
    }

    std::vector<std::uint64_t> list_offsets_;
    std::vector<std::uint64_t> block_offsets_;
    std::vector<std::uint32_t> docs_;
    std::vector<std::uint8_t> codes_;
    std::vector<float> list_max_;
};

}  // namespace fanns::sparse
