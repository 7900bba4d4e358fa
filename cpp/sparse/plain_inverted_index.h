// Baseline for the benchmark: a plain (unblocked) inverted index with the same
// static pruning as the blocked one. Term-at-a-time: for the query's
// `query_cut` most promising terms, add q_t * w_{d,t} of every kept posting
// into a per-document accumulator; then either return the top-k by
// accumulated score, or (rerank > 0) rescore the `rerank` best candidates
// exactly with a forward index and return their top-k.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel.h"
#include "sparse/csr_view.h"
#include "sparse/forward_index.h"
#include "sparse/half.h"
#include "sparse/posting_lists.h"
#include "scratch_pool.h"
#include "sparse/sparse_search.h"
#include "sparse/term_map.h"
#include "topk.h"

namespace fanns::sparse {

class PlainInvertedIndex {
public:
    PlainInvertedIndex(const PlainInvertedIndex&) = delete;
    PlainInvertedIndex& operator=(const PlainInvertedIndex&) = delete;

    static std::unique_ptr<PlainInvertedIndex> build(const CsrView& rows, std::size_t n_postings,
                                                     std::size_t threads) {
        if (rows.n_rows >= 0xffffffffull) throw std::invalid_argument("too many documents");
        if (rows.n_cols > 0x100000000ull) throw std::invalid_argument("too many terms");
        rows.validate("documents", rows.nnz(), kHalfMax);
        std::unique_ptr<PlainInvertedIndex> index(new PlainInvertedIndex());
        index->n_terms_ = rows.n_cols;
        index->n_docs_ = rows.n_rows;
        index->terms_ = TermMap::from_rows(rows);
        index->forward_ = ForwardIndex::build(rows, index->terms_, threads);
        const ForwardIndex& f = index->forward_;
        const std::size_t n_lists = index->terms_.size();
        std::vector<std::vector<Posting>> lists(n_lists);
        for (std::size_t d = 0; d < rows.n_rows; ++d) {
            const auto doc = static_cast<std::uint32_t>(d);
            f.for_each(doc, [&](std::uint32_t term, float w) { lists[term].push_back(Posting{doc, w}); });
        }
        parallel_for(n_lists, threads, 16, [&](std::size_t t, std::size_t) {
            lists[t] = prune_postings(std::move(lists[t]), n_postings);
        });
        index->offsets_.assign(n_lists + 1, 0);
        index->list_max_.assign(n_lists, 0.0f);
        for (std::size_t t = 0; t < n_lists; ++t) {
            index->offsets_[t + 1] = index->offsets_[t] + lists[t].size();
            for (const Posting& p : lists[t]) {
                index->docs_.push_back(p.doc);
                index->weights_.push_back(p.weight);
                index->list_max_[t] = std::max(index->list_max_[t], p.weight);
            }
            std::vector<Posting>().swap(lists[t]);
        }
        return index;
    }

    void search(const CsrView& queries, std::size_t k, std::size_t query_cut, std::size_t rerank,
                std::size_t threads, std::int64_t* ids, float* scores) const {
        if (k == 0) throw std::invalid_argument("k must be at least 1");
        if (queries.n_cols > n_terms_) throw std::invalid_argument("queries have more columns than the index");
        queries.validate("queries", queries.nnz(), std::numeric_limits<float>::max());
        const std::size_t workers = workers_for(queries.n_rows, threads);
        std::vector<std::unique_ptr<Scratch>> scratch(workers);
        parallel_for(queries.n_rows, workers, 4, [&](std::size_t q, std::size_t worker) {
            auto& s = scratch[worker];
            if (!s) s = pool_.acquire([&] { return std::make_unique<Scratch>(terms_.size(), n_docs_); });
            search_one(queries, q, k, query_cut, rerank, *s, ids + q * k, scores + q * k);
        });
        for (auto& s : scratch) {
            if (s) pool_.release(std::move(s));
        }
    }

    std::size_t n_postings() const { return docs_.size(); }
    std::size_t memory_bytes() const {
        return terms_.memory_bytes() + forward_.memory_bytes() + offsets_.size() * sizeof(std::uint64_t) +
               docs_.size() * sizeof(std::uint32_t) + weights_.size() * sizeof(float) +
               list_max_.size() * sizeof(float);
    }
    std::size_t postings_bytes() const {
        return offsets_.size() * sizeof(std::uint64_t) + docs_.size() * sizeof(std::uint32_t) +
               weights_.size() * sizeof(float);
    }

private:
    struct Scratch {
        Scratch(std::size_t n_terms, std::size_t n_docs) : query(n_terms, n_docs, 1), accumulator(n_docs, 0.0f) {}
        QueryScratch query;
        std::vector<float> accumulator;
        std::vector<std::uint32_t> touched;
        std::vector<std::uint32_t> buffer;
        std::vector<Candidate> candidates;
    };

    PlainInvertedIndex() = default;

    void search_one(const CsrView& queries, std::size_t q, std::size_t k, std::size_t query_cut, std::size_t rerank,
                    Scratch& s, std::int64_t* ids, float* scores) const {
        s.query.load(terms_, queries, q);
        const auto& terms = s.query.terms();
        const auto& weights = s.query.weights();
        choose_query_terms([&](std::uint32_t t) { return list_max_[t]; }, terms, weights, query_cut,
                           s.query.order());
        // Room for every posting, so a document is appended without a branch and
        // kept only when its accumulator was still zero (the buffer only grows).
        std::uint64_t total = 0;
        for (std::uint32_t position : s.query.order()) total += offsets_[terms[position] + 1] - offsets_[terms[position]];
        if (s.buffer.size() < total) s.buffer.resize(total);
        std::size_t n_touched = 0;
        for (std::uint32_t position : s.query.order()) {
            const std::uint32_t term = terms[position];
            // At least the smallest normal float: a touched accumulator is never zero.
            const float w = std::max(weights[position], std::numeric_limits<float>::min());
            for (std::uint64_t j = offsets_[term]; j < offsets_[term + 1]; ++j) {
                const std::uint32_t doc = docs_[j];
                const float before = s.accumulator[doc];
                s.buffer[n_touched] = doc;
                n_touched += before == 0.0f ? 1 : 0;
                s.accumulator[doc] = before + std::max(w * weights_[j], std::numeric_limits<float>::min());
            }
        }
        s.touched.assign(s.buffer.begin(), s.buffer.begin() + static_cast<std::ptrdiff_t>(n_touched));
        ScoreHeap& top = s.query.top();
        top.reset(k);
        if (rerank == 0) {
            for (std::uint32_t doc : s.touched) {
                if (s.accumulator[doc] > 0.0f) top.push(Candidate{s.accumulator[doc], doc});
            }
        } else {
            s.candidates.clear();
            for (std::uint32_t doc : s.touched) s.candidates.push_back(Candidate{s.accumulator[doc], doc});
            if (s.candidates.size() > rerank) {
                std::nth_element(s.candidates.begin(), s.candidates.begin() + static_cast<std::ptrdiff_t>(rerank),
                                 s.candidates.end(), LargerFirst());
                s.candidates.resize(rerank);
            }
            for (const Candidate& c : s.candidates) forward_.prefetch_start(c.id);
            for (std::size_t i = 0; i < s.candidates.size(); ++i) {
                const Candidate& c = s.candidates[i];
                if (i + 1 < s.candidates.size()) forward_.prefetch(s.candidates[i + 1].id);
                const float score = forward_.score(s.query.dense(), s.query.present(), c.id);
                if (score > 0.0f) top.push(Candidate{score, c.id});
            }
        }
        for (std::uint32_t doc : s.touched) s.accumulator[doc] = 0.0f;
        write_ranked(top, k, s.query.ranked(), ids, scores);
        s.query.clear();
    }

    std::uint64_t n_terms_ = 0;
    std::size_t n_docs_ = 0;
    TermMap terms_;
    ForwardIndex forward_;
    std::vector<std::uint64_t> offsets_;
    std::vector<std::uint32_t> docs_;
    std::vector<float> weights_;
    std::vector<float> list_max_;
    mutable ScratchPool<Scratch> pool_;
};

}  // namespace fanns::sparse
