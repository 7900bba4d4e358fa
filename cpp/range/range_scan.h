// Exact search over the sorted positions [lo, hi) of a range graph: the row
// ids of a range are one contiguous run of `order`, scored a block at a time
// with the id-list kernel (which prefetches the rows ahead); with a
// predicate, the passing rows are gathered first.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "metric.h"
#include "simd/distance.h"
#include "topk.h"

namespace fanns::range {

class RangeScanner {
public:
    // `rows`: every row in original order, `row_stride` floats apart;
    // `order`: row id of each position.
    RangeScanner(const float* rows, const std::uint32_t* order, std::size_t dim, Metric metric, std::size_t row_stride)
        : rows_(rows), order_(order), dim_(dim), stride_(row_stride), similarity_(metric != Metric::l2) {
        const simd::Kernels& k = simd::active_kernels();
        ids_kernel_ = similarity_ ? k.dot_ids : k.l2sq_ids;
    }

    // Pushes every position in [lo, hi) that passes `pred` into `results`.
    template <class Pred>
    void scan(const float* query, std::size_t lo, std::size_t hi, const Pred& pred, ResultHeap& results) {
        distances_.resize(kBlock);
        if constexpr (!Pred::filters) {
            for (std::size_t start = lo; start < hi; start += kBlock) {
                const std::size_t count = std::min(kBlock, hi - start);
                ids_kernel_(query, rows_, order_ + start, count, dim_, stride_, distances_.data());
                for (std::size_t j = 0; j < count; ++j) {
                    offer(distances_[j], static_cast<std::uint32_t>(start + j), results);
                }
            }
        } else {
            positions_.resize(kBlock);
            ids_.resize(kBlock);
            std::size_t filled = 0;
            auto flush = [&]() {
                ids_kernel_(query, rows_, ids_.data(), filled, dim_, stride_, distances_.data());
                for (std::size_t j = 0; j < filled; ++j) offer(distances_[j], positions_[j], results);
                filled = 0;
            };
            for (std::size_t p = lo; p < hi; ++p) {
                if (!pred(static_cast<std::uint32_t>(p))) continue;
                positions_[filled] = static_cast<std::uint32_t>(p);
                ids_[filled++] = order_[p];
                if (filled == kBlock) flush();
            }
            if (filled > 0) flush();
        }
    }

    // Scores the positions of `candidates` on the float rows and offers them
    // to `results`.
    void rescore(const float* query, const std::vector<Candidate>& candidates, ResultHeap& results) {
        const std::size_t count = candidates.size();
        distances_.resize(std::max(count, kBlock));
        ids_.resize(std::max(count, kBlock));
        for (std::size_t j = 0; j < count; ++j) ids_[j] = order_[candidates[j].id];
        ids_kernel_(query, rows_, ids_.data(), count, dim_, stride_, distances_.data());
        for (std::size_t j = 0; j < count; ++j) offer(distances_[j], candidates[j].id, results);
    }

private:
    void offer(float raw, std::uint32_t position, ResultHeap& results) const {
        const float d = similarity_ ? 1.0f - raw : raw;
        if (results.admits(d)) results.push({d, position});
    }

    static constexpr std::size_t kBlock = 256;
    const float* rows_;
    const std::uint32_t* order_;
    std::size_t dim_;
    std::size_t stride_;
    bool similarity_;
    simd::IdsKernel ids_kernel_;
    std::vector<float> distances_;
    std::vector<std::uint32_t> positions_;
    std::vector<std::uint32_t> ids_;
};

}  // namespace fanns::range
