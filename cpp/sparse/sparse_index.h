// The Seismic-style sparse index: term dictionary, forward index, statically
// pruned blocked posting lists, quantised block summaries and an optional
// k-NN graph; batch search over a pool of threads, each query independent of
// the others (results do not depend on the thread count).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bitset.h"
#include "parallel.h"
#include "planner.h"
#include "scratch_pool.h"
#include "sparse/accumulate_search.h"
#include "sparse/block_clustering.h"
#include "sparse/csr_view.h"
#include "sparse/filtered_search.h"
#include "sparse/forward_index.h"
#include "sparse/half.h"
#include "sparse/knn_graph.h"
#include "sparse/posting_lists.h"
#include "sparse/query_plan.h"
#include "sparse/sparse_search.h"
#include "sparse/summaries.h"
#include "sparse/tail_lists.h"
#include "sparse/term_map.h"
#include "validate.h"

namespace fanns::sparse {

struct BuildParams {
    std::size_t n_postings = 0;  // postings kept per term; 0 keeps all
    std::size_t block_size = 16;  // average documents per block
    float summary_energy = 1.0f;
    std::size_t summary_cap = 32;  // most entries per block summary; 0: no bound
    std::size_t knn = 0;  // neighbours per document in the k-NN graph; 0: no graph
    std::uint64_t seed = 0;
    WeightFormat weights = WeightFormat::f32;  // how the forward index stores weights
    // Heaviest terms of a document used to assign it to a block.
    std::size_t clustering_terms = 16;
    // Search used to find each document's neighbours.
    std::size_t knn_query_cut = 10;
    float knn_heap_factor = 0.9f;
};

// Per-query filters: bitsets shared between queries, and for each query the
// bitset it uses (-1: none).
struct QueryFilters {
    std::vector<BitsetView> bitsets;
    std::vector<std::size_t> counts;  // documents each bitset passes
    const std::int32_t* query_filter = nullptr;
};

// Every array that defines an index, for saving and loading.
struct SparseIndexArrays {
    std::uint64_t n_terms = 0;
    std::size_t n_docs = 0;
    std::vector<std::uint32_t> term_map;
    std::vector<std::uint64_t> forward_offsets;
    std::vector<std::uint32_t> forward_terms;
    WeightFormat forward_format = WeightFormat::f16;
    std::vector<std::uint16_t> forward_values;  // f16 bits (f16 format)
    std::vector<float> forward_weights;         // f32 format
    std::vector<std::uint64_t> list_offsets;
    std::vector<std::uint64_t> block_offsets;
    std::vector<std::uint32_t> block_docs;
    std::vector<std::uint8_t> block_codes;
    std::vector<float> list_max;
    std::vector<std::uint32_t> summary_vocabulary;
    std::vector<std::uint64_t> summary_offsets;
    std::vector<std::uint16_t> summary_entry_term;
    std::vector<std::uint8_t> summary_entry_code;
    std::vector<std::uint8_t> summary_list_code;
    std::vector<float> summary_steps;
    std::size_t knn_degree = 0;
    std::vector<std::uint32_t> knn_neighbours;
};

class SparseIndex {
public:
    SparseIndex(const SparseIndex&) = delete;
    SparseIndex& operator=(const SparseIndex&) = delete;

    static std::unique_ptr<SparseIndex> build(const CsrView& rows, const BuildParams& params, std::size_t threads) {
        if (params.block_size == 0) throw std::invalid_argument("block_size must be at least 1");
        if (!(params.summary_energy > 0.0f) || params.summary_energy > 1.0f) {
            throw std::invalid_argument("summary_energy must be in (0, 1]");
        }
        if (rows.n_rows >= 0xffffffffull) throw std::invalid_argument("too many documents (at most 2^32 - 2)");
        if (rows.n_cols > 0x100000000ull) throw std::invalid_argument("too many terms (at most 2^32)");
        rows.validate("documents", rows.nnz(), kHalfMax);
        std::unique_ptr<SparseIndex> index(new SparseIndex());
        index->n_terms_ = rows.n_cols;
        index->n_docs_ = rows.n_rows;
        index->terms_ = TermMap::from_rows(rows);
        index->forward_ = ForwardIndex::build(rows, index->terms_, threads, params.weights);
        index->build_lists(params, threads);
        if (params.knn > 0) index->build_knn(params, threads);
        return index;
    }

    static std::unique_ptr<SparseIndex> from_arrays(SparseIndexArrays a) {
        if (a.n_terms > 0x100000000ull) throw std::invalid_argument("too many terms");
        if (a.forward_offsets.size() != a.n_docs + 1) {
            throw std::invalid_argument("forward index offsets do not match the number of documents");
        }
        std::unique_ptr<SparseIndex> index(new SparseIndex());
        index->n_terms_ = a.n_terms;
        index->n_docs_ = a.n_docs;
        index->terms_ = TermMap(std::move(a.term_map), a.n_terms);
        const std::size_t n_compact = index->terms_.size();
        index->forward_ = ForwardIndex::from_arrays(std::move(a.forward_offsets), std::move(a.forward_terms),
                                                    std::move(a.forward_values), std::move(a.forward_weights),
                                                    a.forward_format, n_compact);
        if (a.list_offsets.size() != n_compact + 1) {
            throw std::invalid_argument("posting lists: one list per term expected");
        }
        index->lists_ = BlockedPostingLists(std::move(a.list_offsets), std::move(a.block_offsets),
                                            std::move(a.block_docs), std::move(a.block_codes), std::move(a.list_max),
                                            a.n_docs);
        index->summaries_ = BlockSummaries::from_arrays(
            std::move(a.summary_vocabulary), std::move(a.summary_offsets), std::move(a.summary_entry_term),
            std::move(a.summary_entry_code), std::move(a.summary_list_code), std::move(a.summary_steps),
            index->lists_);
        if (a.knn_degree > 0) index->knn_ = KnnGraph(a.knn_degree, std::move(a.knn_neighbours), a.n_docs);
        else if (!a.knn_neighbours.empty()) throw std::invalid_argument("knn graph: neighbours without a degree");
        return index;
    }

    SparseIndexArrays to_arrays() const {
        SparseIndexArrays a;
        a.n_terms = n_terms_;
        a.n_docs = n_docs_;
        a.term_map = terms_.terms();
        a.forward_offsets.assign(forward_.offsets().begin(), forward_.offsets().end());
        a.forward_terms = forward_.terms();
        a.forward_format = forward_.format();
        a.forward_values = forward_.values();
        a.forward_weights = forward_.weights();
        a.list_offsets = lists_.list_offsets();
        a.block_offsets = lists_.block_offsets();
        a.block_docs = lists_.docs();
        a.block_codes = lists_.codes();
        a.list_max = lists_.list_maxima();
        a.summary_vocabulary = summaries_.vocabulary();
        a.summary_offsets = summaries_.block_offsets();
        a.summary_entry_term = summaries_.entry_terms();
        a.summary_entry_code = summaries_.entry_codes();
        a.summary_list_code = summaries_.list_codes();
        a.summary_steps = summaries_.steps();
        a.knn_degree = knn_.degree();
        a.knn_neighbours = knn_.neighbours();
        return a;
    }

    // Top-k of every query row. ids/scores: n_queries * k; plans (fanns::Plan)
    // and scored (documents scored exactly): n_queries. A filtered query
    // either scores the documents its bitset passes (Plan::exact) or, under
    // the automatic plan, accumulates over the pruned lists and is completed
    // exactly when the result cannot be certified (filtered_search.h); the
    // planner (planner.h) chooses. exact_threshold: filters passing at most
    // this many documents are scanned (kAutoThreshold: the planner's cost
    // model decides; 0 leaves only the completion by full lists).
    void search(const CsrView& queries, const SearchParams& request, const QueryFilters& filters,
                std::size_t exact_threshold, std::size_t threads, std::int64_t* ids, float* scores,
                std::uint8_t* plans, std::uint32_t* scored) const {
        check_result_size(queries.n_rows, request.k, n_docs_);
        const std::size_t k = request.k;  // output columns; heaps keep at most n_docs
        const SearchParams params = checked_params(queries, request);
        if (filters.counts.size() != filters.bitsets.size()) {
            throw std::invalid_argument("one count per filter bitset expected");
        }
        std::vector<std::size_t> counts;  // recounted: the passed counts are not trusted
        for (const auto& b : filters.bitsets) {
            if (b.size != n_docs_ || b.words == nullptr) {
                throw std::invalid_argument("a filter bitset does not cover every document");
            }
            counts.push_back(checked_filter_count(b, n_docs_));
        }
        if (filters.query_filter != nullptr) {
            for (std::size_t q = 0; q < queries.n_rows; ++q) {
                const std::int32_t f = filters.query_filter[q];
                if (f < -1 || (f >= 0 && static_cast<std::size_t>(f) >= filters.bitsets.size())) {
                    throw std::invalid_argument("query filter index out of range");
                }
            }
        }
        const IndexView view = this->view();
        auto get_tails = [this]() -> const TailLists& { return tails(); };
        const std::size_t workers = workers_for(queries.n_rows, threads);
        std::vector<std::unique_ptr<QueryScratch>> scratch(workers);
        parallel_for(queries.n_rows, workers, 4, [&](std::size_t q, std::size_t worker) {
            auto& s = scratch[worker];
            if (!s) s = acquire_scratch();
            s->load(terms_, queries, q);
            const std::int32_t f = filters.query_filter == nullptr ? -1 : filters.query_filter[q];
            choose_query_terms(view, params, *s);
            const bool filtered = f >= 0;
            const auto fi = static_cast<std::size_t>(std::max<std::int32_t>(f, 0));
            Plan plan = start_plan(view, params, *s, filtered ? static_cast<std::int64_t>(counts[fi]) : -1,
                                   exact_threshold);
            if (plan == Plan::empty) {
                s->top().reset(params.k);
            } else if (plan == Plan::exact) {
                search_exact(view, params, filters.bitsets[fi], *s);
            } else if (filtered && params.plan == QueryPlan::automatic) {
                // Accumulate, certify, complete (filtered_search.h).
                plan = search_filtered(view, get_tails, params, filters.bitsets[fi], counts[fi], exact_threshold > 0,
                                       static_cast<Completion>(params.completion), *s);
            } else if (plan == Plan::accumulate) {
                if (filtered) search_accumulate(view, params, AcceptBitset{filters.bitsets[fi]}, *s);
                else search_accumulate(view, params, AcceptAll{}, *s);
            } else if (filtered) {
                // Only passing documents are scored, so a visited block costs about
                // pass_rate of an unfiltered one: relax the skipping threshold to
                // match, which keeps recall as the filtered k-th score drops.
                const double pass_rate =
                    static_cast<double>(counts[fi]) / static_cast<double>(std::max<std::size_t>(1, n_docs_));
                SearchParams relaxed = params;
                relaxed.heap_factor = static_cast<float>(params.heap_factor * std::sqrt(std::min(1.0, pass_rate)));
                search_blocks(view, relaxed, AcceptBitset{filters.bitsets[fi]}, *s);
            } else {
                search_blocks(view, params, AcceptAll{}, *s);
            }
            write_ranked(s->top(), k, s->ranked(), ids + q * k, scores + q * k);
            plans[q] = static_cast<std::uint8_t>(plan);
            scored[q] = static_cast<std::uint32_t>(std::min<std::size_t>(s->scored, 0xffffffffu));
            s->clear();
        });
        for (auto& s : scratch) {
            if (s) pool_.release(std::move(s));
        }
    }

    // The plan each query starts with, as search() chooses it (the same code),
    // without searching: passing[q] documents pass query q's filter (-1: no
    // filter). A filtered query started by Plan::accumulate under the automatic
    // plan may end completed over the passing rows (Plan::exact) or the full
    // lists (Plan::full) when its answer cannot be certified.
    void explain(const CsrView& queries, const SearchParams& request, const std::int64_t* passing,
                 std::size_t exact_threshold, std::uint8_t* plans) const {
        const SearchParams params = checked_params(queries, request);
        const IndexView view = this->view();
        std::unique_ptr<QueryScratch> s = acquire_scratch();
        for (std::size_t q = 0; q < queries.n_rows; ++q) {
            if (passing[q] < -1 || passing[q] > static_cast<std::int64_t>(n_docs_)) {
                pool_.release(std::move(s));
                throw std::invalid_argument("passing counts must lie in [-1, n_docs]");
            }
            s->load(terms_, queries, q);
            choose_query_terms(view, params, *s);
            plans[q] = static_cast<std::uint8_t>(start_plan(view, params, *s, passing[q], exact_threshold));
            s->clear();
        }
        pool_.release(std::move(s));
    }

    std::uint64_t n_terms() const { return n_terms_; }
    std::size_t n_docs() const { return n_docs_; }
    std::size_t n_used_terms() const { return terms_.size(); }
    std::size_t n_postings() const { return lists_.n_postings(); }
    std::size_t n_blocks() const { return lists_.n_blocks(); }
    std::size_t n_summary_entries() const { return summaries_.n_entries(); }
    std::size_t nnz() const { return forward_.nnz(); }
    std::size_t knn_degree() const { return knn_.degree(); }
    std::uint64_t list_length(std::uint32_t compact_term) const { return lists_.list_length(compact_term); }

    std::size_t forward_bytes() const { return forward_.memory_bytes() + terms_.memory_bytes(); }
    std::size_t postings_bytes() const { return lists_.memory_bytes(); }
    std::size_t summaries_bytes() const { return summaries_.memory_bytes(); }
    std::size_t knn_bytes() const { return knn_.memory_bytes(); }
    // The cut postings (built by the first filtered query that needs them; 0 before).
    std::size_t tails_bytes() const {
        const TailLists* t = tails_ready_.load(std::memory_order_acquire);
        return t == nullptr ? 0 : t->memory_bytes();
    }

    // The cut postings, built on first use (thread-safe).
    const TailLists& tails() const {
        std::call_once(tails_once_, [this] {
            tails_ = std::make_unique<TailLists>(TailLists::build(forward_, lists_));
            tails_ready_.store(tails_.get(), std::memory_order_release);
        });
        return *tails_;
    }

    const ForwardIndex& forward() const { return forward_; }
    const TermMap& term_map() const { return terms_; }

private:
    SparseIndex() = default;

    IndexView view() const { return IndexView{&terms_, &forward_, &lists_, &summaries_, &knn_}; }

    // The search parameters checked against the index and the queries, k and
    // rerank held to the number of documents.
    SearchParams checked_params(const CsrView& queries, const SearchParams& request) const {
        SearchParams params = request;
        params.k = std::min<std::size_t>(request.k, std::max<std::size_t>(n_docs_, 1));
        params.rerank = std::min<std::size_t>(params.rerank, std::max<std::size_t>(n_docs_, 1));
        if (params.completion > 2) throw std::invalid_argument("completion must be 0, 1 or 2");
        if (!(params.heap_factor >= 0.0f) || !std::isfinite(params.heap_factor)) {
            throw std::invalid_argument("heap_factor must be a finite number >= 0");
        }
        if (queries.n_cols > n_terms_) {
            throw std::invalid_argument("queries have " + std::to_string(queries.n_cols) +
                                        " columns but the index has only " + std::to_string(n_terms_) + " terms");
        }
        queries.validate("queries", queries.nnz(), std::numeric_limits<float>::max());
        return params;
    }

    // The plan a loaded query with chosen terms starts with (planner.h):
    // unfiltered (passing < 0), the forced or cheaper of blocks and
    // accumulation; filtered, Plan::empty, Plan::exact (score the passing
    // documents) or, when accumulating is expected to read fewer bytes,
    // Plan::accumulate under the automatic plan and the forced plan otherwise.
    // (The automatic plan's model weighs the completion over the full lists,
    // so it builds the cut postings on first use, as a completion would.)
    Plan start_plan(const IndexView& view, const SearchParams& params, QueryScratch& s, std::int64_t passing,
                    std::size_t exact_threshold) const {
        if (passing < 0) return choose_plan(view, params, s);
        const bool automatic = params.plan == QueryPlan::automatic;
        SparsePlanInput in = plan_input(view, params, s);
        if (automatic && exact_threshold == kAutoThreshold && passing > 0) {
            in.remaining = completion_postings(lists_, tails(), s);
        }
        const Plan p = choose_sparse_filtered_plan(in, static_cast<double>(passing), static_cast<double>(n_docs_),
                                                   exact_threshold, automatic);
        if (p != Plan::accumulate || automatic) return p;
        return choose_plan(view, params, s);
    }

    std::unique_ptr<QueryScratch> acquire_scratch() const {
        return pool_.acquire([&] {
            return std::make_unique<QueryScratch>(terms_.size(), n_docs_, summaries_.vocabulary_size());
        });
    }

    // Transposes the forward index, prunes, clusters and summarises every list.
    void build_lists(const BuildParams& params, std::size_t threads) {
        const std::size_t n_lists = terms_.size();
        std::vector<std::uint64_t> starts(n_lists + 1, 0);
        for (std::size_t d = 0; d < n_docs_; ++d) {
            const auto doc = static_cast<std::uint32_t>(d);
            forward_.for_each(doc, [&](std::uint32_t term, float) { ++starts[term + 1]; });
        }
        for (std::size_t t = 0; t < n_lists; ++t) starts[t + 1] += starts[t];
        std::vector<Posting> all(forward_.nnz());
        {
            std::vector<std::uint64_t> cursor(starts.begin(), starts.end() - 1);
            for (std::size_t d = 0; d < n_docs_; ++d) {
                const auto doc = static_cast<std::uint32_t>(d);
                forward_.for_each(doc, [&](std::uint32_t term, float w) { all[cursor[term]++] = Posting{doc, w}; });
            }
        }
        // Longest lists first, so the slowest items do not come last.
        std::vector<std::uint32_t> schedule(n_lists);
        for (std::size_t t = 0; t < n_lists; ++t) schedule[t] = static_cast<std::uint32_t>(t);
        std::stable_sort(schedule.begin(), schedule.end(), [&](std::uint32_t a, std::uint32_t b) {
            return starts[a + 1] - starts[a] > starts[b + 1] - starts[b];
        });
        struct ListPart {
            std::vector<std::uint32_t> docs;  // grouped by block
            std::vector<std::uint8_t> codes;  // each document's weight for the term, quantised
            std::vector<std::uint32_t> block_sizes;
            float max_weight = 0.0f;
        };
        std::vector<ListPart> parts(n_lists);
        std::vector<ListSummaries> summary_parts(n_lists);
        std::vector<std::uint64_t> pruned_lengths(n_lists);
        for (std::size_t t = 0; t < n_lists; ++t) {
            std::uint64_t length = starts[t + 1] - starts[t];
            if (params.n_postings != 0) length = std::min<std::uint64_t>(length, params.n_postings);
            pruned_lengths[t] = length;
        }
        std::vector<std::uint16_t> vocabulary = summary_vocabulary(pruned_lengths, params.block_size);
        const DocumentSketches sketches(forward_, std::max<std::size_t>(1, params.clustering_terms), threads);
        const std::size_t workers = workers_for(n_lists, threads);
        std::vector<std::unique_ptr<ClusteringScratch>> cluster_scratch(workers);
        std::vector<std::unique_ptr<SummaryScratch>> summary_scratch(workers);
        parallel_for(n_lists, workers, 1, [&](std::size_t i, std::size_t worker) {
            const std::uint32_t term = schedule[i];
            if (!cluster_scratch[worker]) {
                cluster_scratch[worker] = std::make_unique<ClusteringScratch>(n_lists);
                summary_scratch[worker] = std::make_unique<SummaryScratch>(n_lists);
            }
            std::vector<Posting> list(all.begin() + static_cast<std::ptrdiff_t>(starts[term]),
                                      all.begin() + static_cast<std::ptrdiff_t>(starts[term + 1]));
            list = prune_postings(std::move(list), params.n_postings);
            ListPart& part = parts[term];
            std::vector<std::uint32_t> docs(list.size());
            std::vector<float> weights(list.size());
            for (std::size_t j = 0; j < list.size(); ++j) {
                docs[j] = list[j].doc;
                weights[j] = list[j].weight;
                part.max_weight = std::max(part.max_weight, list[j].weight);
            }
            const std::size_t wanted =
                std::min(kMaxBlocksPerList, (docs.size() + params.block_size - 1) / params.block_size);
            std::size_t n_blocks = 0;
            const std::vector<std::uint32_t> assignment =
                cluster_posting_list(forward_, sketches, docs, weights, term, wanted, params.seed,
                                     *cluster_scratch[worker], &n_blocks);
            // Counting sort by block keeps documents ascending inside each block.
            std::vector<std::size_t> block_starts(n_blocks + 1, 0);
            for (std::uint32_t a : assignment) ++block_starts[a + 1];
            for (std::size_t b = 0; b < n_blocks; ++b) block_starts[b + 1] += block_starts[b];
            part.block_sizes.resize(n_blocks);
            for (std::size_t b = 0; b < n_blocks; ++b) {
                part.block_sizes[b] = static_cast<std::uint32_t>(block_starts[b + 1] - block_starts[b]);
            }
            part.docs.resize(docs.size());
            part.codes.resize(docs.size());
            {
                const float code_step = part.max_weight / 255.0f;
                std::vector<std::size_t> cursor(block_starts.begin(), block_starts.end() - 1);
                for (std::size_t j = 0; j < docs.size(); ++j) {
                    const std::size_t at = cursor[assignment[j]]++;
                    part.docs[at] = docs[j];
                    part.codes[at] = quantise_up(weights[j], code_step);
                }
            }
            summary_parts[term] =
                summarise_list(forward_, part.docs, block_starts, term, params.summary_energy, params.summary_cap,
                               vocabulary, *summary_scratch[worker]);
        });
        std::vector<Posting>().swap(all);

        std::vector<std::uint64_t> list_offsets(n_lists + 1, 0);
        std::vector<std::uint64_t> block_offsets(1, 0);
        std::vector<std::uint32_t> docs;
        std::vector<std::uint8_t> codes;
        std::vector<float> list_max(n_lists, 0.0f);
        std::size_t total_docs = 0;
        for (const auto& p : parts) total_docs += p.docs.size();
        docs.reserve(total_docs);
        codes.reserve(total_docs);
        for (std::size_t t = 0; t < n_lists; ++t) {
            ListPart& p = parts[t];
            list_offsets[t + 1] = list_offsets[t] + p.block_sizes.size();
            for (std::uint32_t size : p.block_sizes) block_offsets.push_back(block_offsets.back() + size);
            docs.insert(docs.end(), p.docs.begin(), p.docs.end());
            codes.insert(codes.end(), p.codes.begin(), p.codes.end());
            list_max[t] = p.max_weight;
            p = ListPart();
        }
        lists_ = BlockedPostingLists(std::move(list_offsets), std::move(block_offsets), std::move(docs),
                                     std::move(codes), std::move(list_max), n_docs_);
        summaries_ = BlockSummaries::concatenate(summary_parts, std::move(vocabulary));
    }

    // Each document's nearest neighbours, found by searching the index with
    // the document itself as the query.
    void build_knn(const BuildParams& params, std::size_t threads) {
        const std::size_t degree = params.knn;
        std::vector<std::uint32_t> neighbours(n_docs_ * degree, KnnGraph::kNone);
        SearchParams sp;
        sp.k = degree + 1;
        sp.query_cut = params.knn_query_cut;
        sp.heap_factor = params.knn_heap_factor;
        sp.use_knn = false;
        const IndexView view = this->view();
        const std::size_t workers = workers_for(n_docs_, threads);
        std::vector<std::unique_ptr<QueryScratch>> scratch(workers);
        std::vector<std::vector<std::int64_t>> ids(workers, std::vector<std::int64_t>(sp.k));
        std::vector<std::vector<float>> scores(workers, std::vector<float>(sp.k));
        parallel_for(n_docs_, workers, 16, [&](std::size_t d, std::size_t worker) {
            auto& s = scratch[worker];
            if (!s) s = acquire_scratch();
            const auto doc = static_cast<std::uint32_t>(d);
            s->load_document(forward_, doc);
            search_inverted(view, sp, AcceptAll{}, *s);
            write_ranked(s->top(), sp.k, s->ranked(), ids[worker].data(), scores[worker].data());
            s->clear();
            std::size_t filled = 0;
            for (std::size_t j = 0; j < sp.k && filled < degree; ++j) {
                const std::int64_t id = ids[worker][j];
                if (id < 0) break;
                if (static_cast<std::uint32_t>(id) == doc) continue;
                neighbours[d * degree + filled++] = static_cast<std::uint32_t>(id);
            }
        });
        for (auto& s : scratch) {
            if (s) pool_.release(std::move(s));
        }
        knn_ = KnnGraph(degree, std::move(neighbours), n_docs_);
    }

    std::uint64_t n_terms_ = 0;
    std::size_t n_docs_ = 0;
    TermMap terms_;
    ForwardIndex forward_;
    BlockedPostingLists lists_;
    BlockSummaries summaries_;
    KnnGraph knn_;
    mutable ScratchPool<QueryScratch> pool_;
    mutable std::once_flag tails_once_;
    mutable std::unique_ptr<TailLists> tails_;
    mutable std::atomic<const TailLists*> tails_ready_{nullptr};
};

}  // namespace fanns::sparse
