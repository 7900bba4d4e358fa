// Fusion of two ranked candidate lists into one top-k (hybrid dense + sparse
// search). Each side gives, per query, ids best first (-1 pads) and scores
// where larger is better; a rule turns each side's list into contributions,
// weighted and summed per id.
//
//   rrf       1 / (fusion_k + rank), rank = position + 1
//   dbsf      (s - (mean - 3 std)) / (6 std), sample std of the side's valid
//             scores; 0.5 when std is 0 (one candidate, or all equal)
//   weighted  (s - min) / (max - min); 1 when max == min
//
// The fused list is ordered by score (descending), then id (ascending).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

namespace fanns {

enum class FusionRule : int { kRrf = 0, kDbsf = 1, kWeighted = 2 };

struct FusionSide {
    const std::int64_t* ids;  // (nq, depth), row-major
    const double* scores;     // (nq, depth)
    std::size_t depth;
    double weight;
    std::uint8_t bit;  // reported in `sources`
};

struct FusedEntry {
    std::int64_t id;
    double score;
    std::uint8_t sources;
};

// Adds the weighted contributions of one side's row `q` to `out`.
inline void add_side(const FusionSide& side, std::size_t q, FusionRule rule, double fusion_k,
                     std::vector<FusedEntry>& out) {
    const std::int64_t* ids = side.ids + q * side.depth;
    const double* s = side.scores + q * side.depth;
    std::size_t count = 0;
    double sum = 0.0;
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    for (std::size_t j = 0; j < side.depth; ++j) {
        if (ids[j] < 0) continue;
        if (!std::isfinite(s[j])) throw std::invalid_argument("fusion: a returned candidate has a non-finite score");
        ++count;
        sum += s[j];
        lo = std::min(lo, s[j]);
        hi = std::max(hi, s[j]);
    }
    if (count == 0) return;
    double centre = 0.0;
    double span = 0.0;  // contribution = (s - centre) / span, or a constant when span is 0
    double constant = 1.0;
    if (rule == FusionRule::kWeighted) {
        centre = lo;
        span = hi > lo ? hi - lo : 0.0;
    } else if (rule == FusionRule::kDbsf) {
        const double mean = sum / double(count);
        double var = 0.0;
        for (std::size_t j = 0; j < side.depth; ++j) {
            if (ids[j] >= 0) var += (s[j] - mean) * (s[j] - mean);
        }
        const double sd = std::sqrt(var / double(count > 1 ? count - 1 : 1));
        centre = mean - 3.0 * sd;
        span = sd > 0 ? 6.0 * sd : 0.0;
        constant = 0.5;
    }
    if (!std::isfinite(span) || !std::isfinite(centre)) {
        throw std::invalid_argument("fusion: scores too far apart to normalise (their spread overflows)");
    }
    for (std::size_t j = 0; j < side.depth; ++j) {
        if (ids[j] < 0) continue;
        double c;
        if (rule == FusionRule::kRrf) {
            c = 1.0 / (fusion_k + double(j + 1));
        } else {
            c = span > 0 ? (s[j] - centre) / span : constant;
        }
        out.push_back({ids[j], side.weight * c, side.bit});
    }
}

// Fuses query `q` of both sides into its top k: writes k ids (-1 pads),
// scores (-inf pads) and source bits (0 pads). `scratch` is reused.
inline void fuse_query(const FusionSide& a, const FusionSide& b, std::size_t q, std::size_t k, FusionRule rule,
                       double fusion_k, std::vector<FusedEntry>& scratch, std::int64_t* out_ids, float* out_scores,
                       std::uint8_t* out_sources) {
    scratch.clear();
    add_side(a, q, rule, fusion_k, scratch);
    add_side(b, q, rule, fusion_k, scratch);
    std::sort(scratch.begin(), scratch.end(), [](const FusedEntry& x, const FusedEntry& y) {
        return x.id != y.id ? x.id < y.id : x.sources < y.sources;
    });
    std::size_t m = 0;
    for (std::size_t i = 0; i < scratch.size(); ++i) {
        if (m > 0 && scratch[m - 1].id == scratch[i].id) {
            if (scratch[m - 1].sources & scratch[i].sources) {
                throw std::invalid_argument("fusion: an id appears twice in one side's list");
            }
            scratch[m - 1].score += scratch[i].score;
            scratch[m - 1].sources |= scratch[i].sources;
        } else {
            scratch[m++] = scratch[i];
        }
    }
    scratch.resize(m);
    const std::size_t top = std::min(k, m);
    std::partial_sort(scratch.begin(), scratch.begin() + std::ptrdiff_t(top), scratch.end(),
                      [](const FusedEntry& x, const FusedEntry& y) {
                          return x.score != y.score ? x.score > y.score : x.id < y.id;
                      });
    for (std::size_t r = 0; r < k; ++r) {
        const bool hit = r < top;
        out_ids[r] = hit ? scratch[r].id : -1;
        out_scores[r] = hit ? float(scratch[r].score) : -std::numeric_limits<float>::infinity();
        out_sources[r] = hit ? scratch[r].sources : 0;
    }
}

}  // namespace fanns
