// Splits one posting list into blocks of similar documents: pick n_blocks of
// its documents at random as centroids and send every document to the
// centroid with the largest inner product (ties: the earlier centroid).
// Centroids are held as a small inverted index over their terms, so each
// document costs one pass over its terms plus the centroid entries sharing
// them, instead of one sparse dot product per centroid.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "sparse/forward_index.h"
#include "sparse/half.h"
#include "sparse/random.h"

namespace fanns::sparse {

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
inline std::vector<std::uint32_t> cluster_posting_list(const ForwardIndex& forward,
                                                       const std::vector<std::uint32_t>& docs,
                                                       std::size_t n_blocks, std::uint64_t seed,
                                                       std::uint64_t list_id, ClusteringScratch& s,
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
    SplitMix64 rng = stream_for(seed, list_id);
    for (std::size_t i = 0; i < n_blocks; ++i) {
        const std::size_t j = i + static_cast<std::size_t>(rng.below(n - i));
        std::swap(s.order[i], s.order[j]);
    }

    // Inverted index of the centroids.
    s.touched.clear();
    std::size_t total = 0;
    for (std::size_t c = 0; c < n_blocks; ++c) {
        const std::uint32_t doc = docs[s.order[c]];
        const std::uint32_t* terms = forward.terms_of(doc);
        const std::size_t len = forward.length(doc);
        for (std::size_t j = 0; j < len; ++j) {
            if (s.count[terms[j]]++ == 0) s.touched.push_back(terms[j]);
        }
        total += len;
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
        const std::uint32_t* terms = forward.terms_of(doc);
        const std::uint16_t* values = forward.values_of(doc);
        const std::size_t len = forward.length(doc);
        for (std::size_t j = 0; j < len; ++j) {
            const std::uint32_t slot = s.start[terms[j]]++;
            s.entry_centroid[slot] = static_cast<std::uint32_t>(c);
            s.entry_weight[slot] = half_to_float(values[j]);
        }
    }

    // Assign every document.
    s.score.assign(n_blocks, 0.0f);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t doc = docs[i];
        const std::uint32_t* terms = forward.terms_of(doc);
        const std::uint16_t* values = forward.values_of(doc);
        const std::size_t len = forward.length(doc);
        std::fill(s.score.begin(), s.score.end(), 0.0f);
        for (std::size_t j = 0; j < len; ++j) {
            const std::uint32_t cnt = s.count[terms[j]];
            if (cnt == 0) continue;
            const float w = half_to_float(values[j]);
            const std::uint32_t end = s.start[terms[j]];  // advanced past the term's entries
            for (std::uint32_t e = end - cnt; e < end; ++e) s.score[s.entry_centroid[e]] += w * s.entry_weight[e];
        }
        std::size_t best = 0;
        for (std::size_t c = 1; c < n_blocks; ++c) {
            if (s.score[c] > s.score[best]) best = c;
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
