// Checks the engine makes on what it is handed before it relies on it. Each
// throws std::invalid_argument (ValueError in Python) with a message that
// names the argument; none allocates in proportion to its input.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "bitset.h"
#include "planner.h"

namespace fanns {

// Largest squared norm a stored row or query may have: distances between two
// such vectors (|q - x|^2 <= 4 max, |<q, x>| <= max) stay finite in float32,
// with room for rounding in the kernels' partial sums.
inline constexpr double kMaxSquaredNorm = double(std::numeric_limits<float>::max()) / 8.0;

// Rejects rows with NaN or infinite values, or so large that their distances
// would overflow float32. Rows (`stride` floats apart; 0: dim) are read one
// at a time: no temporary. Errors name a row as `first` + its position in
// `data` (a caller checking a block of a larger matrix passes the block's start).
inline void check_rows(const float* data, std::size_t n, std::size_t dim, const char* what, std::size_t stride = 0,
                       std::size_t first = 0) {
    if (stride == 0) stride = dim;
    for (std::size_t i = 0; i < n; ++i) {
        const float* row = data + i * stride;
        // Four sums, not one: one chain of dependent additions took about
        // as long per query as scoring a few hundred rows.
        double part[4] = {};
        std::size_t j = 0;
        for (; j + 4 <= dim; j += 4) {
            for (std::size_t l = 0; l < 4; ++l) part[l] += double(row[j + l]) * double(row[j + l]);
        }
        for (; j < dim; ++j) part[0] += double(row[j]) * double(row[j]);
        const double norm = (part[0] + part[1]) + (part[2] + part[3]);
        if (!(norm <= kMaxSquaredNorm)) {  // also catches NaN
            char detail[128];
            if (std::isfinite(norm)) {
                std::snprintf(detail, sizeof(detail), " is too large: its squared norm %.3g exceeds %.3g", norm,
                              kMaxSquaredNorm);
            } else {
                std::snprintf(detail, sizeof(detail), " holds NaN or infinite values");
            }
            throw std::invalid_argument(std::string(what) + " row " + std::to_string(first + i) + detail +
                                        (std::isfinite(norm) ? ", where float32 distances overflow" : ""));
        }
    }
}

// The number of ids a filter bitset over `n` ids passes; bits set past n
// (in the padding of the last word) are rejected rather than read as ids.
inline std::size_t checked_filter_count(BitsetView bits, std::size_t n) {
    const std::size_t nwords = (n + 63) / 64;
    if (n % 64 != 0 && nwords > 0) {
        const std::uint64_t padding = ~((std::uint64_t(1) << (n % 64)) - 1);
        if (bits.words[nwords - 1] & padding) {
            throw std::invalid_argument("a filter bitset has bits set past the last row (" + std::to_string(n) + ")");
        }
    }
    return bits.count();
}

// Largest number of results one call may return when most of it would be
// padding: nq * k beyond both nq * n and this bound is a mistake, not a query.
inline constexpr std::size_t kMaxPaddedResults = std::size_t(1) << 24;

inline void check_result_size(std::size_t nq, std::size_t k, std::size_t n) {
    if (k == 0) throw std::invalid_argument("k must be positive");
    const bool overflows = nq != 0 && k > std::numeric_limits<std::size_t>::max() / nq;
    if (overflows || (k > n && nq * k > kMaxPaddedResults)) {
        throw std::invalid_argument("k = " + std::to_string(k) + " for " + std::to_string(nq) +
                                    " queries asks for more results than the " + std::to_string(n) +
                                    " rows can fill (at most " + std::to_string(kMaxPaddedResults) +
                                    " padded results per call)");
    }
}

// Largest budget_factor the engine takes (a traversal scoring a million
// times the passing rows has no budget left to speak of).
constexpr double kMaxBudgetFactor = 1e6;

// Planner parameters as the engine relies on them: fractions in [0, 1],
// finite non-negative factors, max_collect within a neighbour slot.
inline void check_planner(const PlannerParams& p, std::size_t max_collect_limit) {
    auto fail = [](const std::string& what) { throw std::invalid_argument("planner parameter " + what); };
    if (!(p.two_hop_selectivity >= 0.0 && p.two_hop_selectivity <= 1.0)) fail("two_hop_selectivity must be in [0, 1]");
    if (!(p.switch_pass_rate >= 0.0 && p.switch_pass_rate <= 1.0)) fail("switch_pass_rate must be in [0, 1]");
    if (!(p.budget_factor >= 0.0 && p.budget_factor <= kMaxBudgetFactor)) fail("budget_factor must be in [0, 1e6]");
    if (!(p.min_two_hop_degree >= 0.0 && std::isfinite(p.min_two_hop_degree))) {
        fail("min_two_hop_degree must be finite and >= 0");
    }
    if (p.max_collect > max_collect_limit) {
        fail("max_collect must be at most " + std::to_string(max_collect_limit));
    }
}

}  // namespace fanns
