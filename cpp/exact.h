// Exact search over the ids that pass a filter.
//
// One query: ids are gathered from the bitset a block at a time and scored
// with the batched SIMD kernel. Several queries sharing a filter: the passing
// ids are listed once and scanned in blocks, every query of the group scoring
// a block while its rows are still in cache, so each row is read from memory
// once per group rather than once per query.
#pragma once

#include <cstdint>
#include <vector>

#include "bitset.h"
#include "metric.h"
#include "topk.h"

namespace fanns {

// The ids set in `bits`, ascending (all of [0, size) when bits.words is null).
inline std::vector<std::uint32_t> passing_ids(BitsetView bits, std::size_t size) {
    std::vector<std::uint32_t> ids;
    if (bits.words == nullptr) {
        ids.resize(size);
        for (std::size_t i = 0; i < size; ++i) ids[i] = static_cast<std::uint32_t>(i);
        return ids;
    }
    const std::size_t nwords = (size + 63) / 64;
    for (std::size_t w = 0; w < nwords; ++w) {
        std::uint64_t word = bits.words[w];
        while (word != 0) {
            ids.push_back(static_cast<std::uint32_t>(w * 64 + unsigned(__builtin_ctzll(word))));
            word &= word - 1;
        }
    }
    return ids;
}

class ExactScanner {
public:
    // `stride`: floats from one row of `base` to the next (0: dim).
    ExactScanner(const float* base, std::size_t dim, Metric metric, const simd::Kernels& kernels,
                 std::size_t stride = 0)
        : base_(base), dim_(dim), stride_(stride ? stride : dim), similarity_(metric != Metric::l2),
          ids_kernel_(metric == Metric::l2 ? kernels.l2sq_ids : kernels.dot_ids),
          tile_kernel_(metric == Metric::l2 ? kernels.l2sq_tile : kernels.dot_tile) {}

    // Nearest candidates among the ids set in `bits` into `results`.
    void scan(const float* query, BitsetView bits, std::size_t size, ResultHeap& results) {
        block_ids_.resize(kBlock);
        std::size_t filled = 0;
        const std::size_t nwords = (size + 63) / 64;
        for (std::size_t w = 0; w < nwords; ++w) {
            std::uint64_t word = bits.words ? bits.words[w] : ~std::uint64_t(0);
            if (!bits.words && w + 1 == nwords && size % 64) word &= (std::uint64_t(1) << (size % 64)) - 1;
            while (word != 0) {
                block_ids_[filled++] = static_cast<std::uint32_t>(w * 64 + unsigned(__builtin_ctzll(word)));
                word &= word - 1;
                if (filled == kBlock) {
                    score(query, block_ids_.data(), filled, results);
                    filled = 0;
                }
            }
        }
        if (filled > 0) score(query, block_ids_.data(), filled, results);
    }

    // Nearest candidates among `ids` for each of `count` queries; heaps[i] for queries[i].
    // The distances are those scan() gives, bit for bit (the tile kernel
    // sums as the pair kernel does).
    void scan_group(const float* const* queries, std::size_t count, const std::vector<std::uint32_t>& ids,
                    ResultHeap* heaps) {
        group_dist_.resize(count * kBlock);
        for (std::size_t start = 0; start < ids.size(); start += kBlock) {
            const std::size_t len = std::min(kBlock, ids.size() - start);
            const std::uint32_t* block = ids.data() + start;
            tile_kernel_(queries, count, base_, stride_, block, len, dim_, group_dist_.data());
            for (std::size_t i = 0; i < count; ++i) admit(block, group_dist_.data() + i * len, len, heaps[i]);
        }
    }

private:
    static constexpr std::size_t kBlock = 128;

    void score(const float* query, const std::uint32_t* ids, std::size_t len, ResultHeap& results) {
        dist_.resize(kBlock);
        ids_kernel_(query, base_, ids, len, dim_, stride_, dist_.data());
        admit(ids, dist_.data(), len, results);
    }

    // Pushes the rows whose kernel values make the cut (similarities become
    // distances 1 - s).
    void admit(const std::uint32_t* ids, const float* values, std::size_t len, ResultHeap& results) const {
        for (std::size_t j = 0; j < len; ++j) {
            const float d = similarity_ ? 1.0f - values[j] : values[j];
            if (results.admits(d)) results.push({d, ids[j]});
        }
    }

    const float* base_;
    std::size_t dim_;
    std::size_t stride_;
    bool similarity_;
    simd::IdsKernel ids_kernel_;
    simd::TileKernel tile_kernel_;
    std::vector<std::uint32_t> block_ids_;
    std::vector<float> dist_;
    std::vector<float> group_dist_;
};

}  // namespace fanns
