// Query processing over the blocked inverted index, templated on a predicate
// (AcceptAll or AcceptBitset) that every result must pass.
//
// Take the lists of the query's `query_cut` most promising terms (largest
// possible contribution q_t * max_d w_{d,t}) and estimate every block's best
// score from its summary. Blocks are then visited best estimate first: each
// unseen document of the block that passes the predicate is scored exactly
// with the forward index, until k results are held and the next estimate is
// below heap_factor * (k-th best score). heap_factor = 0 visits every block,
// so with unpruned lists and every query term the result is exact. Documents
// sharing no term with the query (score 0) are never returned.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "bitset.h"
#include "sparse/csr_view.h"
#include "sparse/forward_index.h"
#include "sparse/half.h"
#include "sparse/knn_graph.h"
#include "sparse/posting_lists.h"
#include "sparse/summaries.h"
#include "sparse/term_map.h"
#include "sparse/top_k.h"
#include "sparse/visited_set.h"

namespace fanns::sparse {


struct SearchParams {
    std::size_t k = 10;
    std::size_t query_cut = 0;  // 0: every query term
    float heap_factor = 0.7f;   // 0: visit every block
    bool use_knn = true;        // refine with the k-NN graph when there is one
};

struct IndexView {
    const TermMap* terms;
    const ForwardIndex* forward;
    const BlockedPostingLists* lists;
    const BlockSummaries* summaries;
    const KnnGraph* knn;
};

struct ScoredBlock {
    float estimate;
    std::uint64_t block;
};

// Heap order: the largest estimate on top, ties to the smaller block id.
inline bool visited_after(const ScoredBlock& a, const ScoredBlock& b) {
    return a.estimate < b.estimate || (a.estimate == b.estimate && a.block > b.block);
}

// Per-thread state, reused across queries.
class QueryScratch {
public:
    QueryScratch(std::size_t n_terms, std::size_t n_docs, std::size_t max_blocks_per_list)
        : dense_(n_terms, 0.0f),
          present_((n_terms + 63) / 64, 0),
          visited_(n_docs),
          block_score_(max_blocks_per_list) {}

    // Loads row `row` of `queries`: dense ids ascending, duplicates summed,
    // terms the index does not know and zero weights dropped.
    void load(const TermMap& map, const CsrView& queries, std::size_t row) {
        clear();
        pairs_.clear();
        for (std::size_t j = queries.row_begin(row); j < queries.row_end(row); ++j) {
            const std::uint32_t t = map.compact(queries.indices[j]);
            if (t != TermMap::kAbsent && queries.data[j] > 0.0f) pairs_.emplace_back(t, queries.data[j]);
        }
        std::sort(pairs_.begin(), pairs_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (const auto& [t, w] : pairs_) {
            if (!terms_.empty() && terms_.back() == t) {
                weights_.back() += w;
            } else {
                terms_.push_back(t);
                weights_.push_back(w);
            }
        }
        for (std::size_t i = 0; i < terms_.size(); ++i) set(terms_[i], weights_[i]);
    }

    // Loads a document of the forward index as the query.
    void load_document(const ForwardIndex& forward, std::uint32_t doc) {
        clear();
        const ForwardEntry* row = forward.row(doc);
        for (std::size_t j = 0; j < forward.length(doc); ++j) {
            terms_.push_back(row[j].term);
            weights_.push_back(half_to_float(row[j].value));
            set(row[j].term, weights_.back());
        }
    }

    // Documents scored exactly for the current query.
    std::size_t scored = 0;

    void clear() {
        scored = 0;
        for (std::uint32_t t : terms_) {
            dense_[t] = 0.0f;
            present_[t >> 6] = 0;
        }
        terms_.clear();
        weights_.clear();
    }

    const float* dense() const { return dense_.data(); }
    const std::uint64_t* present() const { return present_.data(); }
    const std::vector<std::uint32_t>& terms() const { return terms_; }
    const std::vector<float>& weights() const { return weights_; }
    VisitedSet& visited() { return visited_; }
    TopK& top() { return top_; }
    float* block_score() { return block_score_.data(); }
    std::vector<std::uint32_t>& order() { return order_; }
    std::vector<std::uint32_t>& seeds() { return seeds_; }
    std::vector<ScoredBlock>& queue() { return queue_; }

private:
    void set(std::uint32_t term, float weight) {
        dense_[term] = weight;
        present_[term >> 6] |= std::uint64_t{1} << (term & 63);
    }

    std::vector<float> dense_;
    std::vector<std::uint64_t> present_;  // bit per term: in the query
    std::vector<std::uint32_t> terms_;
    std::vector<float> weights_;
    std::vector<std::pair<std::uint32_t, float>> pairs_;
    VisitedSet visited_;
    TopK top_;
    std::vector<float> block_score_;
    std::vector<std::uint32_t> order_;
    std::vector<std::uint32_t> seeds_;
    std::vector<ScoredBlock> queue_;
};

// Positions (into terms) of the query terms to traverse, most promising
// first: largest possible contribution weight * list_max(term), ties by
// position. query_cut == 0 keeps them all.
template <class ListMax>
void choose_query_terms(const ListMax& list_max, const std::vector<std::uint32_t>& terms,
                        const std::vector<float>& weights, std::size_t query_cut, std::vector<std::uint32_t>& order) {
    order.resize(terms.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
    auto promise = [&](std::uint32_t i) { return weights[i] * list_max(terms[i]); };
    auto better = [&](std::uint32_t a, std::uint32_t b) {
        const float pa = promise(a), pb = promise(b);
        return pa > pb || (pa == pb && a < b);
    };
    if (query_cut != 0 && query_cut < order.size()) {
        std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(query_cut), order.end(), better);
        order.resize(query_cut);
    } else {
        std::sort(order.begin(), order.end(), better);
    }
}

// Approximate top-k of the loaded query through the blocked lists.
template <class Predicate>
void search_inverted(const IndexView& index, const SearchParams& params, const Predicate& accept,
                     QueryScratch& scratch) {
    const ForwardIndex& forward = *index.forward;
    const BlockedPostingLists& lists = *index.lists;
    TopK& top = scratch.top();
    VisitedSet& visited = scratch.visited();
    top.reset(params.k);
    visited.next_query();
    choose_query_terms([&](std::uint32_t t) { return lists.list_max(t); }, scratch.terms(), scratch.weights(),
                       params.query_cut, scratch.order());
    const float* dense = scratch.dense();
    const std::uint64_t* present = scratch.present();
    float* block_score = scratch.block_score();
    const auto& terms = scratch.terms();
    auto visit = [&](std::uint64_t block) {
        const std::uint32_t* end = lists.block_end(block);
        const std::uint32_t* d = lists.block_begin(block);
        if (d != end) forward.prefetch(*d);
        for (; d != end; ++d) {
            const std::uint32_t doc = *d;
            if (d + 1 != end) forward.prefetch(d[1]);
            if (Predicate::filters && !accept(doc)) continue;
            if (!visited.insert(doc)) continue;
            const float score = forward.score(dense, present, doc);
            ++scratch.scored;
            if (score > 0.0f) top.push(score, doc);
        }
    };
    if (params.heap_factor <= 0.0f) {
        for (std::uint32_t position : scratch.order()) {
            const std::uint32_t term = terms[position];
            for (std::uint64_t b = lists.first_block(term); b < lists.end_block(term); ++b) visit(b);
        }
    } else {
        auto& queue = scratch.queue();
        queue.clear();
        for (std::uint32_t position : scratch.order()) {
            const std::uint32_t term = terms[position];
            const std::uint64_t first = lists.first_block(term);
            const std::size_t n_blocks = static_cast<std::size_t>(lists.end_block(term) - first);
            if (n_blocks == 0) continue;
            if (n_blocks == 1) {  // no summary: always visited, first
                queue.push_back(ScoredBlock{std::numeric_limits<float>::infinity(), first});
                continue;
            }
            index.summaries->score_list(term, first, n_blocks, terms.data(), scratch.weights().data(), terms.size(),
                                        block_score);
            for (std::size_t b = 0; b < n_blocks; ++b) queue.push_back(ScoredBlock{block_score[b], first + b});
        }
        std::make_heap(queue.begin(), queue.end(), visited_after);
        while (!queue.empty()) {
            std::pop_heap(queue.begin(), queue.end(), visited_after);
            const ScoredBlock next = queue.back();
            queue.pop_back();
            if (top.full() && next.estimate < params.heap_factor * top.threshold()) break;
            visit(next.block);
        }
    }
    if (params.use_knn && index.knn != nullptr) {
        scratch.scored += refine_with_neighbours(*index.knn, forward, dense, present, accept, visited, top,
                                                 scratch.seeds());
    }
}

// Exact top-k of the loaded query over the documents a bitset passes.
inline void search_exact(const IndexView& index, const SearchParams& params, const BitsetView& bits,
                         QueryScratch& scratch) {
    const ForwardIndex& forward = *index.forward;
    TopK& top = scratch.top();
    top.reset(params.k);
    const float* dense = scratch.dense();
    const std::uint64_t* present = scratch.present();
    const std::size_t n = std::min(bits.size, forward.size());
    const std::size_t n_words = (n + 63) / 64;
    for (std::size_t w = 0; w < n_words; ++w) {
        std::uint64_t word = bits.words[w];
        if (w + 1 == n_words && n % 64 != 0) word &= (std::uint64_t{1} << (n % 64)) - 1;
        while (word != 0) {
            const auto doc = static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(__builtin_ctzll(word)));
            word &= word - 1;
            const float score = forward.score(dense, present, doc);
            ++scratch.scored;
            if (score > 0.0f) top.push(score, doc);
        }
    }
}

}  // namespace fanns::sparse
