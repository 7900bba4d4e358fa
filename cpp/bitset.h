// A read-only view of a packed bitset: bit i of word i / 64 says whether id i
// passes a filter. One bit per vector, shared by every query that uses the
// same filter.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fanns {

struct BitsetView {
    const std::uint64_t* words = nullptr;
    std::size_t size = 0;  // number of ids covered

    bool test(std::uint32_t id) const { return (words[id >> 6] >> (id & 63)) & 1u; }

    std::size_t count() const {
        std::size_t total = 0;
        const std::size_t nwords = (size + 63) / 64;
        for (std::size_t w = 0; w < nwords; ++w) total += static_cast<std::size_t>(__builtin_popcountll(words[w]));
        return total;
    }
};

// Predicate that lets every id through; the search loops are templates over
// the predicate, so this one compiles away.
struct AcceptAll {
    static constexpr bool filters = false;
    bool operator()(std::uint32_t) const { return true; }
};

struct AcceptBitset {
    static constexpr bool filters = true;
    BitsetView bits;
    bool operator()(std::uint32_t id) const { return bits.test(id); }
};

}  // namespace fanns
