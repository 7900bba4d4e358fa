// Query processing over the blocked inverted index, templated on a predicate
// (AcceptAll or AcceptBitset) that every result must pass.
//
// Take the lists of the query's `query_cut` most promising terms (largest
// possible contribution q_t * max_d w_{d,t}) and estimate every block's best
// score from its summary. Blocks are then visited best estimate first, until k
// results are held and the next estimate is below heap_factor * (k-th best
// score). In a visited block each unseen document that passes the predicate
// is bounded first: the block's estimate with the list term's part taken from
// the document's own posting weight instead of the block's largest; below
// heap_factor * (k-th best score) it is passed over, otherwise scored exactly
// with the forward index. heap_factor = 0 visits and scores everything, so
// with unpruned lists and every query term the result is exact. Documents
// sharing no term with the query (score 0) are never returned.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "bitset.h"
#include "huge_pages.h"
#include "sparse/csr_view.h"
#include "sparse/forward_index.h"
#include "sparse/half.h"
#include "sparse/knn_graph.h"
#include "sparse/posting_lists.h"
#include "sparse/summaries.h"
#include "sparse/term_map.h"
#include "topk.h"
#include "visited.h"

namespace fanns::sparse {


// How a query is processed: blocked traversal with summaries, accumulation
// over the same pruned lists, or whichever the cost model expects to be cheaper.
enum class QueryPlan : std::uint8_t { automatic = 0, blocks = 1, accumulate = 2 };

struct SearchParams {
    std::size_t k = 10;
    std::size_t query_cut = 0;  // 0: every query term
    float heap_factor = 0.6f;   // 0: visit every block / rescore every accumulator
    bool use_knn = true;        // refine with the k-NN graph when there is one
    QueryPlan plan = QueryPlan::automatic;
    std::size_t rerank = 0;  // accumulators rescored exactly (accumulate plan); 0: 10 * k
    // Filtered queries under the automatic plan: how an uncertified answer is
    // completed (0: by the cost model, 1: passing rows, 2: full lists; 1 and 2
    // also complete certified answers, for tests and calibration).
    std::uint8_t completion = 0;
    // Accumulate plan: documents per accumulator window (rounded down to a
    // power of two, at least 2) when the collection has more; 0: the default
    // (one accumulator up to kDenseAccumulatorDocs, else windows of
    // kAccumulatorWindow). Tests set it small to reach the windowed path.
    std::size_t accumulator_window = 0;
};

// A posting scattered to its document-id window: the document and what it
// adds to the document's accumulator.
struct WindowPosting {
    std::uint32_t doc;
    float value;
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
    float others;         // part of the estimate from terms other than the list's
    float posting_scale;  // query weight of the list's term * its code step
    std::uint64_t block;
};

// Heap order: the largest estimate on top, ties to the smaller block id.
inline bool visited_after(const ScoredBlock& a, const ScoredBlock& b) {
    return a.estimate < b.estimate || (a.estimate == b.estimate && a.block > b.block);
}

// Per-thread state, reused across queries.
class QueryScratch {
public:
    QueryScratch(std::size_t n_terms, std::size_t n_docs, std::size_t summary_terms)
        : dense_(n_terms, 0.0f),
          present_((n_terms + 63) / 64, 0),
          visited_(n_docs),
          summary_query_(std::max<std::size_t>(1, summary_terms), 0.0f) {}

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
        forward.for_each(doc, [&](std::uint32_t term, float w) {
            terms_.push_back(term);
            weights_.push_back(w);
            set(term, w);
        });
    }

    // Documents scored exactly for the current query.
    std::size_t scored = 0;

    // The query's weights by summary id (zero elsewhere), for block estimates.
    const float* summary_query(const BlockSummaries& summaries) {
        clear_summary_query();
        for (std::size_t i = 0; i < terms_.size(); ++i) {
            const std::uint16_t id = summaries.summary_id(terms_[i]);
            if (id == kNotSummarised) continue;
            summary_query_[id] = weights_[i];
            summary_touched_.push_back(id);
        }
        return summary_query_.data();
    }

    void clear() {
        scored = 0;
        clear_summary_query();
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
    VisitedTable& visited() { return visited_; }
    ScoreHeap& top() { return top_; }
    // The accumulate plan's documents to rescore (accumulate_search.h).
    ScoreHeap& shortlist() { return shortlist_; }
    std::vector<Candidate>& ranked() { return ranked_; }

    std::vector<std::uint32_t>& order() { return order_; }
    std::vector<std::uint32_t>& seeds() { return seeds_; }
    std::vector<std::uint32_t>& pending() { return pending_; }
    std::vector<ScoredBlock>& queue() { return queue_; }
    std::vector<std::uint32_t>& touched() { return touched_; }
    std::vector<Candidate>& candidates() { return candidates_; }
    std::vector<std::size_t>& window_ends() { return window_ends_; }
    std::vector<WindowPosting>& window_postings() { return window_postings_; }
    // Per-document accumulators, all zero between queries (users reset what they touch).
    float* accumulator(std::size_t n_docs) {
        if (accumulator_.size() < n_docs) accumulator_.assign(n_docs, 0.0f);
        return accumulator_.data();
    }

private:
    void clear_summary_query() {
        for (std::uint16_t id : summary_touched_) summary_query_[id] = 0.0f;
        summary_touched_.clear();
    }

    void set(std::uint32_t term, float weight) {
        dense_[term] = weight;
        present_[term >> 6] |= std::uint64_t{1} << (term & 63);
    }

    std::vector<float> dense_;
    std::vector<std::uint64_t> present_;  // bit per term: in the query
    std::vector<std::uint32_t> terms_;
    std::vector<float> weights_;
    std::vector<std::pair<std::uint32_t, float>> pairs_;
    VisitedTable visited_;
    ScoreHeap top_;
    ScoreHeap shortlist_;
    std::vector<Candidate> ranked_;
    std::vector<float> summary_query_;
    std::vector<std::uint16_t> summary_touched_;
    std::vector<std::uint32_t> order_;
    std::vector<std::uint32_t> seeds_;
    std::vector<std::uint32_t> pending_;
    std::vector<ScoredBlock> queue_;
    LargeVector<float> accumulator_;
    std::vector<std::uint32_t> touched_;
    std::vector<Candidate> candidates_;
    std::vector<std::size_t> window_ends_;
    std::vector<WindowPosting> window_postings_;
};

// Writes the k best of `top` (emptied) best first, padding with id -1 and
// score -inf; `ranked` is reusable work space.
inline void write_ranked(ScoreHeap& top, std::size_t k, std::vector<Candidate>& ranked, std::int64_t* ids,
                         float* scores) {
    top.sorted_into(ranked);
    for (std::size_t i = 0; i < k; ++i) {
        if (i < ranked.size()) {
            ids[i] = ranked[i].id;
            scores[i] = ranked[i].distance;
        } else {
            ids[i] = -1;
            scores[i] = -std::numeric_limits<float>::infinity();
        }
    }
}

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

// Chooses the loaded query's terms to traverse into scratch.order().
inline void choose_query_terms(const IndexView& index, const SearchParams& params, QueryScratch& scratch) {
    const BlockedPostingLists& lists = *index.lists;
    choose_query_terms([&](std::uint32_t t) { return lists.list_max(t); }, scratch.terms(), scratch.weights(),
                       params.query_cut, scratch.order());
}

// Fills scratch.queue() (unordered) with the blocks of the lists of the terms
// in scratch.order(), each with its summary estimate. A list of one block has
// no summary: it is always visited, first, in full.
inline void fill_block_queue(const IndexView& index, QueryScratch& scratch) {
    constexpr float kAlways = std::numeric_limits<float>::infinity();
    const BlockedPostingLists& lists = *index.lists;
    const BlockSummaries& summaries = *index.summaries;
    const auto& terms = scratch.terms();
    const auto& weights = scratch.weights();
    const float* summary_query = scratch.summary_query(summaries);
    auto& queue = scratch.queue();
    queue.clear();
    for (std::uint32_t position : scratch.order()) {
        const std::uint32_t term = terms[position];
        const std::uint64_t first = lists.first_block(term);
        const std::uint64_t last = lists.end_block(term);
        const float w = weights[position];
        const float posting_scale = w * lists.code_step(term);
        if (last - first == 1) {
            queue.push_back(ScoredBlock{kAlways, kAlways, posting_scale, first});
            continue;
        }
        for (std::uint64_t b = first; b < last; ++b) {
            const float others = summaries.other_terms(b, summary_query);
            queue.push_back(ScoredBlock{others + w * summaries.list_term_max(b), others, posting_scale, b});
        }
    }
}

// Approximate top-k of the loaded query through the blocked lists of the
// terms in scratch.order() (choose_query_terms).
template <class Predicate>
void search_blocks(const IndexView& index, const SearchParams& params, const Predicate& accept,
                   QueryScratch& scratch) {
    const ForwardIndex& forward = *index.forward;
    const BlockedPostingLists& lists = *index.lists;
    ScoreHeap& top = scratch.top();
    VisitedTable& visited = scratch.visited();
    top.reset(params.k);
    visited.begin(forward.size());
    const float* dense = scratch.dense();
    const std::uint64_t* present = scratch.present();
    const auto& terms = scratch.terms();
    std::vector<std::uint32_t>& pending = scratch.pending();
    // Scores a block's new documents whose bound others + posting_scale * code
    // reaches `floor`: first every row is requested from memory, so the misses
    // overlap, then the rows are scored in order.
    auto visit = [&](const ScoredBlock& block, float floor) {
        pending.clear();
        const std::uint32_t* begin = lists.block_begin(block.block);
        const std::uint32_t* end = lists.block_end(block.block);
        const std::uint8_t* codes = lists.block_codes(block.block);
        for (const std::uint32_t* d = begin; d != end; ++d) {
            const std::uint32_t doc = *d;
            if (block.others + block.posting_scale * static_cast<float>(codes[d - begin]) < floor) continue;
            if (Predicate::filters && !accept(doc)) continue;
            if (!visited.try_insert(doc)) continue;
            forward.prefetch_start(doc);
            pending.push_back(doc);
        }
        const std::size_t n = pending.size();
        for (std::size_t i = 0; i < n; ++i) {
            if (i + 1 < n) forward.prefetch(pending[i + 1]);
            const float score = forward.score(dense, present, pending[i]);
            if (score > 0.0f) top.push(Candidate{score, pending[i]});
        }
        scratch.scored += n;
    };
    constexpr float kAlways = std::numeric_limits<float>::infinity();
    if (params.heap_factor <= 0.0f) {
        for (std::uint32_t position : scratch.order()) {
            const std::uint32_t term = terms[position];
            for (std::uint64_t b = lists.first_block(term); b < lists.end_block(term); ++b) {
                visit(ScoredBlock{kAlways, kAlways, 0.0f, b}, 0.0f);
            }
        }
    } else {
        auto& queue = scratch.queue();
        fill_block_queue(index, scratch);
        std::make_heap(queue.begin(), queue.end(), visited_after);
        while (!queue.empty()) {
            std::pop_heap(queue.begin(), queue.end(), visited_after);
            const ScoredBlock next = queue.back();
            queue.pop_back();
            const float floor = top.full() ? params.heap_factor * top.worst() : 0.0f;
            if (next.estimate < floor) break;
            visit(next, floor);
        }
    }
    if (params.use_knn && index.knn != nullptr) {
        scratch.scored += refine_with_neighbours(*index.knn, forward, dense, present, accept, visited, top,
                                                 scratch.seeds());
    }
}

// Approximate top-k of the loaded query through the blocked lists of its
// `query_cut` most promising terms.
template <class Predicate>
void search_inverted(const IndexView& index, const SearchParams& params, const Predicate& accept,
                     QueryScratch& scratch) {
    choose_query_terms(index, params, scratch);
    search_blocks(index, params, accept, scratch);
}

// Exact top-k of the loaded query over the documents a bitset passes, in id
// order; each row is requested from memory a few documents ahead, since the
// passing rows of a selective filter lie far apart.
inline void search_exact(const IndexView& index, const SearchParams& params, const BitsetView& bits,
                         QueryScratch& scratch) {
    const ForwardIndex& forward = *index.forward;
    ScoreHeap& top = scratch.top();
    top.reset(params.k);
    const float* dense = scratch.dense();
    const std::uint64_t* present = scratch.present();
    const std::size_t n = std::min(bits.size, forward.size());
    const std::size_t n_words = (n + 63) / 64;
    constexpr std::size_t kAhead = 8;  // a power of two
    std::uint32_t ring[kAhead];
    std::size_t queued = 0, done = 0;
    auto score = [&](std::uint32_t doc) {
        const float s = forward.score(dense, present, doc);
        if (s > 0.0f) top.push(Candidate{s, doc});
    };
    for (std::size_t w = 0; w < n_words; ++w) {
        std::uint64_t word = bits.words[w];
        if (w + 1 == n_words && n % 64 != 0) word &= (std::uint64_t{1} << (n % 64)) - 1;
        while (word != 0) {
            const auto doc = static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(__builtin_ctzll(word)));
            word &= word - 1;
            forward.prefetch(doc);
            if (queued - done == kAhead) score(ring[done++ % kAhead]);
            ring[queued++ % kAhead] = doc;
        }
    }
    while (done < queued) score(ring[done++ % kAhead]);
    scratch.scored += queued;
}

}  // namespace fanns::sparse
