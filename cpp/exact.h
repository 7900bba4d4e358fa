// Exact search over the ids that pass a filter: the ids are gathered from the
// bitset a block at a time and scored with the batched SIMD kernel.
#pragma once

#include <cstdint>
#include <vector>

#include "bitset.h"
#include "metric.h"
#include "topk.h"

namespace fanns {

class ExactScanner {
public:
    ExactScanner(const float* base, std::size_t dim, Metric metric, const simd::Kernels& kernels)
        : base_(base), dim_(dim), similarity_(metric != Metric::l2),
          ids_kernel_(metric == Metric::l2 ? kernels.l2sq_ids : kernels.dot_ids) {}

    // Nearest k among the ids set in `bits` (or all `size` ids when bits.words is null).
    void scan(const float* query, BitsetView bits, std::size_t size, ResultHeap& results) {
        block_ids_.resize(kBlock);
        block_dist_.resize(kBlock);
        std::size_t filled = 0;
        auto flush = [&]() {
            ids_kernel_(query, base_, block_ids_.data(), filled, dim_, block_dist_.data());
            for (std::size_t j = 0; j < filled; ++j) {
                const float d = similarity_ ? 1.0f - block_dist_[j] : block_dist_[j];
                if (results.admits(d)) results.push({d, block_ids_[j]});
            }
            filled = 0;
        };
        if (bits.words == nullptr) {
            for (std::size_t id = 0; id < size; ++id) {
                block_ids_[filled++] = static_cast<std::uint32_t>(id);
                if (filled == kBlock) flush();
            }
        } else {
            const std::size_t nwords = (size + 63) / 64;
            for (std::size_t w = 0; w < nwords; ++w) {
                std::uint64_t word = bits.words[w];
                while (word != 0) {
                    const unsigned bit = static_cast<unsigned>(__builtin_ctzll(word));
                    word &= word - 1;
                    block_ids_[filled++] = static_cast<std::uint32_t>(w * 64 + bit);
                    if (filled == kBlock) flush();
                }
            }
        }
        if (filled > 0) flush();
    }

private:
    static constexpr std::size_t kBlock = 256;
    const float* base_;
    std::size_t dim_;
    bool similarity_;
    simd::IdsKernel ids_kernel_;
    std::vector<std::uint32_t> block_ids_;
    std::vector<float> block_dist_;
};

}  // namespace fanns
