// The one random generator of the engine: splitmix64, written out here so
// that a seed gives the same stream with every compiler, standard library
// and thread count (std::uniform_*_distribution differ between libraries).
#pragma once

#include <cstdint>

namespace fanns {

class SplitMix64 {
public:
    explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }

    // Uniform integer in [0, bound), bound > 0 (Lemire's multiply-shift).
    std::uint64_t below(std::uint64_t bound) {
        return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
    }

private:
    std::uint64_t state_;
};

// Independent stream per (seed, item), e.g. one per posting list.
inline SplitMix64 stream_for(std::uint64_t seed, std::uint64_t item) {
    SplitMix64 mix(seed ^ (item * 0xd1342543de82ef95ull + 0x2545f4914f6cdd1dull));
    return SplitMix64(mix.next());
}

// HNSW level of one node: the number of successive draws of below(base) that
// come out 0, at most max_level. P(level >= L) = base^-L, the distribution of
// floor(-ln(u) / ln(base)) for uniform u, drawn with integers only.
inline int geometric_level(SplitMix64& rng, std::uint64_t base, int max_level) {
    int level = 0;
    while (level < max_level && rng.below(base) == 0) ++level;
    return level;
}

}  // namespace fanns
