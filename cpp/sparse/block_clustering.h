// Splits one posting list into blocks of similar documents: pick n_blocks of
// its documents at random as centroids and send every document to the
// centroid with the largest inner product (ties: the earlier centroid).
// Centroids are held as a small inverted index over their terms, and a
// document is represented by its heaviest terms only (its "sketch"; the list's
// own term decides only when the sketch meets no centroid), so an assignment
// costs a few short entry scans instead of one sparse dot product per centroid.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "parallel.h"
#include "sparse/forward_index.h"
#include "sparse/half.h"
#include "random.h"

namespace fanns::sparse {

// Each document's `width` heaviest (term, weight) pairs, used for clustering.
class DocumentSketches {
public:
    DocumentSketches(const ForwardIndex& forward, std::size_t width, std::size_t threads) : width_(width) {
        const std::size_t n = forward.size();
        terms_.assign(n * width, 0);
        weights_.assign(n * width, 0.0f);
        lengths_.assign(n, 0);
        parallel_for(n, threads, 512, [&](std::size_t d, std::size_t) {
            const auto doc = static_cast<std::uint32_t>(d);
            std::vector<std::pair<float, std::uint32_t>> entries;
            entries.reserve(forward.length(doc));
            forward.for_each(doc, [&](std::uint32_t term, float w) { entries.emplace_back(w, term); });
            const std::size_t keep = std::min(width, entries.size());
            std::partial_sort(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(keep), entries.end(),
                              [](const auto& a, const auto& b) {
                                  return a.first > b.first || (a.first == b.first && a.second < b.second);
                              });
            for (std::size_t j = 0; j < keep; ++j) {
                terms_[d * width + j] = entries[j].second;
                weights_[d * width + j] = entries[j].first;
            }
            lengths_[d] = static_cast<std::uint32_t>(keep);
        });
    }

    std::size_t length(std::uint32_t doc) const { return lengths_[doc]; }
    const std::uint32_t* terms_of(std::uint32_t doc) const { return terms_.data() + doc * width_; }
    const float* weights_of(std::uint32_t doc) const { return weights_.data() + doc * width_; }

private:
    std::size_t width_;
    std::vector<std::uint32_t> terms_;
    std::vector<float> weights_;
    std::vector<std::uint32_t> lengths_;
};

// Per-thread work space; arrays indexed by dense term id stay zeroed between calls.
struct ClusteringScratch {
    std::vector<std::uint32_t> count;  // centroid entries per term
    std::vector<std::uint32_t> start;  // first entry of each term
    std::vector<std::uint32_t> touched;
    std::vector<std::uint32_t> entry_centroid;
    std::vector<float> entry_weight;
    std::vector<float> score;
    std::vector<std::uint32_t> order;

    explicit ClusteringScratch(std::size_t n_terms) : count(n_terms, 0), start(n_terms, 0) {}
};

// Returns, for each document of `docs` (ascending ids), its block number in
// [0, n_blocks_out); blocks are numbered in centroid order with empty ones removed.
// `list_term` is the list's (dense) term, `list_weights` the documents' weights for it.
inline std::vector<std::uint32_t> cluster_posting_list(const ForwardIndex& forward, const DocumentSketches& sketches,
                                                       const std::vector<std::uint32_t>& docs,
                                                       const std::vector<float>& list_weights,
                                                       std::uint32_t list_term, std::size_t n_blocks,
                                                       std::uint64_t seed, ClusteringScratch& s,
                                                       std::size_t* n_blocks_out) {
    const std::size_t n = docs.size();
    std::vector<std::uint32_t> assignment(n, 0);
    if (n_blocks <= 1 || n <= 1) {
        *n_blocks_out = n == 0 ? 0 : 1;
        return assignment;
    }
    n_blocks = std::min(n_blocks, n);

    // Random distinct centroids: the first n_blocks of a partial shuffle.
    s.order.resize(n);
    std::iota(s.order.begin(), s.order.end(), 0u);
    SplitMix64 rng = stream_for(seed, list_term);
    for (std::size_t i = 0; i < n_blocks; ++i) {
        const std::size_t j = i + static_cast<std::size_t>(rng.below(n - i));
        std::swap(s.order[i], s.order[j]);
    }

    // Inverted index of the centroids.
    s.touched.clear();
    std::size_t total = 0;
    for (std::size_t c = 0; c < n_blocks; ++c) {
        const std::uint32_t doc = docs[s.order[c]];
        forward.for_each(doc, [&](std::uint32_t term, float) {
            if (s.count[term]++ == 0) s.touched.push_back(term);
        });
        total += forward.length(doc);
    }
    std::uint32_t running = 0;
    for (std::uint32_t t : s.touched) {
        s.start[t] = running;
        running += s.count[t];
    }
    s.entry_centroid.resize(total);
    s.entry_weight.resize(total);
    for (std::size_t c = 0; c < n_blocks; ++c) {
        const std::uint32_t doc = docs[s.order[c]];
        forward.for_each(doc, [&](std::uint32_t term, float w) {
            const std::uint32_t slot = s.start[term]++;
            s.entry_centroid[slot] = static_cast<std::uint32_t>(c);
            s.entry_weight[slot] = w;
        });
    }

    // Assign every document by its sketch plus the list's own term.
    s.score.assign(n_blocks, 0.0f);
    auto add_term = [&](std::uint32_t term, float w) {
        const std::uint32_t cnt = s.count[term];
        const std::uint32_t end = s.start[term];  // advanced past the term's entries
        for (std::uint32_t e = end - cnt; e < end; ++e) s.score[s.entry_centroid[e]] += w * s.entry_weight[e];
    };
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t doc = docs[i];
        const std::uint32_t* terms = sketches.terms_of(doc);
        const float* weights = sketches.weights_of(doc);
        const std::size_t len = sketches.length(doc);
        std::fill(s.score.begin(), s.score.end(), 0.0f);
        for (std::size_t j = 0; j < len; ++j) add_term(terms[j], weights[j]);
        std::size_t best = 0;
        for (std::size_t c = 1; c < n_blocks; ++c) {
            if (s.score[c] > s.score[best]) best = c;
        }
        if (s.score[best] <= 0.0f) {
            // No heavy term in common with any centroid: fall back to the list's term.
            add_term(list_term, list_weights[i]);
            for (std::size_t c = 1; c < n_blocks; ++c) {
                if (s.score[c] > s.score[best]) best = c;
            }
        }
        assignment[i] = static_cast<std::uint32_t>(best);
    }
    for (std::uint32_t t : s.touched) s.count[t] = 0;

    // Renumber to drop empty clusters.
    std::vector<std::uint32_t> renumber(n_blocks, 0xffffffffu);
    std::size_t used = 0;
    std::vector<std::uint8_t> nonempty(n_blocks, 0);
    for (std::uint32_t a : assignment) nonempty[a] = 1;
    for (std::size_t c = 0; c < n_blocks; ++c) {
        if (nonempty[c]) renumber[c] = static_cast<std::uint32_t>(used++);
    }
    for (auto& a : assignment) a = renumber[a];
    *n_blocks_out = used;
    return assignment;
}

}  // namespace fanns::sparse
