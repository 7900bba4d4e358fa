// Construction of a range graph (layout in range_graph.h).
//
// Depths are built from the leaves up; a depth only reads depths below it,
// which are final, so every point of a depth is processed in parallel and
// the result does not depend on the thread count.
//   leaves    the candidates of a point are all other members of its leaf.
//   internal  a segment is the union of two children. A point keeps its
//             pruned list of its own child (links pruned there are still
//             dominated here) and adds the ef_construction nearest members
//             of the sibling child: found by an exact scan of the sibling's
//             contiguous block when it is small, otherwise by a beam search
//             in the sibling's (finished) graph from the entry points of the
//             sibling and its descendants. A segment with one child copies
//             that child's lists.
// Each depth then adds reverse links: a point's list takes the points that
// chose it, appended while there is room, otherwise re-pruned with the
// neighbour-selection rule over the union.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "parallel.h"
#include "range/neighbour_selection.h"
#include "range/range_graph.h"
#include "range/segment_layout.h"
#include "simd/distance.h"
#include "topk.h"
#include "validate.h"
#include "visited.h"

namespace fanns::range {

class RangeGraphBuilder {
public:
    explicit RangeGraphBuilder(RangeGraph& graph) : g_(graph) {}

    // `data`: total_rows rows of dim floats, `row_stride` floats apart (0:
    // dim), original row order; the graph keeps reading it (see
    // range_graph.h). `order`: the rows that have a key, sorted by (key, id).
    void build(const float* data, std::size_t total_rows, const std::uint32_t* order, std::size_t n,
               std::size_t threads, std::size_t row_stride = 0) {
        if (row_stride == 0) row_stride = g_.dim();
        if (row_stride < g_.dim()) throw std::invalid_argument("row stride below dim");
        if (total_rows >= 0xffffffffu) throw std::invalid_argument("too many rows");
        if (n > total_rows) throw std::invalid_argument("more sorted positions than rows");
        check_rows(data, total_rows, g_.dim(), "vectors", row_stride);
        std::vector<std::uint8_t> seen(total_rows, 0);
        for (std::size_t i = 0; i < n; ++i) {
            if (order[i] >= total_rows) throw std::invalid_argument("row order names a row out of range");
            if (seen[order[i]]) throw std::invalid_argument("row order repeats a row");
            seen[order[i]] = 1;
        }
        const SegmentLayout layout(n, g_.params_.leaf_size);
        g_.layout_ = layout;
        g_.total_rows_ = total_rows;
        g_.rows_ = data;
        g_.row_stride_ = row_stride;
        g_.order_.assign(order, order + n);
        g_.links_.assign(n * layout.depths() * g_.slot_size(), 0);
        g_.entries_.assign(layout.total_segments(), 0);
        g_.encode_rows(threads);
        g_.visited_pool_.clear();
        if (n == 0) return;

        const std::size_t workers = resolve_threads(threads);
        scratch_.clear();
        scratch_.resize(workers);
        for (auto& s : scratch_) s.visited = std::make_unique<VisitedTable>(n);
        choose_entries(threads);
        const std::size_t leaf = layout.leaf_depth();
        parallel_for(n, threads, 16, [&](std::size_t p, std::size_t w) { link_in_leaf(p, scratch_[w]); });
        add_reverse_links(leaf, threads);
        for (std::size_t d = leaf; d-- > 0;) {
            parallel_for(n, threads, 8, [&](std::size_t p, std::size_t w) { link_at(p, d, scratch_[w]); });
            add_reverse_links(d, threads);
        }
        scratch_.clear();
    }

private:
    struct Scratch {
        std::unique_ptr<VisitedTable> visited;
        CandidateQueue queue;
        ResultHeap results;
        std::vector<Candidate> candidates;
        std::vector<Candidate> found;
        std::vector<Candidate> kept;
        std::vector<float> block;
        std::vector<double> mean;
    };

    // Largest sibling scanned exactly instead of searched.
    std::size_t exact_limit() const { return kExactLimit; }

    // Distances from `query` to the positions [begin, end).
    void block_distances(const float* query, std::size_t begin, std::size_t end, std::vector<float>& out) const {
        const simd::Kernels& k = simd::active_kernels();
        out.resize(end - begin);
        const bool similarity = g_.metric_ != Metric::l2;
        (similarity ? k.dot_ids : k.l2sq_ids)(query, g_.rows_, g_.order_.data() + begin, end - begin, g_.dim_, g_.row_stride_,
                                              out.data());
        if (similarity) {
            for (float& v : out) v = 1.0f - v;
        }
    }

    // Entry point of every segment: the member nearest the mean of an evenly
    // spaced sample of at most kSample members, itself chosen among them.
    void choose_entries(std::size_t threads) {
        const SegmentLayout& layout = g_.layout_;
        const std::size_t dim = g_.dim_;
        const Distance dist = g_.distance();
        for (std::size_t d = 0; d < layout.depths(); ++d) {
            parallel_for(layout.segments(d), threads, 4, [&](std::size_t i, std::size_t w) {
                Scratch& s = scratch_[w];
                const Segment seg = layout.segment(d, i);
                const std::size_t size = seg.size();
                const std::size_t count = std::min(size, kSample);
                s.mean.assign(dim, 0.0);
                for (std::size_t j = 0; j < count; ++j) {
                    const float* v = g_.vector(seg.begin + j * size / count);
                    for (std::size_t c = 0; c < dim; ++c) s.mean[c] += v[c];
                }
                std::vector<float> centre(dim);
                for (std::size_t c = 0; c < dim; ++c) centre[c] = static_cast<float>(s.mean[c] / double(count));
                std::size_t best = seg.begin;
                float best_d = 0.0f;
                for (std::size_t j = 0; j < count; ++j) {
                    const std::size_t p = seg.begin + j * size / count;
                    const float dd = dist(centre.data(), g_.vector(p));
                    if (j == 0 || dd < best_d) {
                        best_d = dd;
                        best = p;
                    }
                }
                g_.entries_[layout.offset(d) + i] = static_cast<std::uint32_t>(best);
            });
        }
    }

    void write_slot(std::size_t p, std::size_t d, const std::vector<Candidate>& kept) {
        std::uint32_t* sl = g_.slot_to_write(p, d);
        sl[0] = static_cast<std::uint32_t>(kept.size());
        for (std::size_t j = 0; j < kept.size(); ++j) sl[1 + j] = kept[j].id;
    }

    void select_into(std::size_t p, std::size_t d, Scratch& s) {
        const Distance dist = g_.distance();
        select_neighbours(s.candidates, g_.params_.M, dist, [this](std::uint32_t id) { return g_.vector(id); },
                          s.kept);
        write_slot(p, d, s.kept);
    }

    void link_in_leaf(std::size_t p, Scratch& s) {
        const Segment seg = g_.layout_.segment_of(p, g_.layout_.leaf_depth());
        block_distances(g_.vector(p), seg.begin, seg.end, s.block);
        s.candidates.clear();
        for (std::size_t q = seg.begin; q < seg.end; ++q) {
            if (q != p) s.candidates.push_back({s.block[q - seg.begin], static_cast<std::uint32_t>(q)});
        }
        std::sort(s.candidates.begin(), s.candidates.end(), closer);
        select_into(p, g_.layout_.leaf_depth(), s);
    }

    void link_at(std::size_t p, std::size_t d, Scratch& s) {
        const SegmentLayout& layout = g_.layout_;
        const Segment seg = layout.segment_of(p, d);
        const std::size_t left = 2 * seg.index, right = left + 1;
        const std::size_t slot = g_.slot_size();
        if (!layout.exists(d + 1, right)) {
            std::memcpy(g_.slot_to_write(p, d), g_.slot(p, d + 1), slot * sizeof(std::uint32_t));
            return;
        }
        const Segment own = layout.segment_of(p, d + 1);
        const Segment sibling = layout.segment(d + 1, own.index == left ? right : left);
        const Distance dist = g_.distance();
        const float* q = g_.vector(p);
        s.candidates.clear();
        const std::uint32_t* child = g_.slot(p, d + 1);
        for (std::uint32_t j = 0; j < child[0]; ++j) {
            s.candidates.push_back({dist(q, g_.vector(child[1 + j])), child[1 + j]});
        }
        const std::size_t ef = g_.params_.ef_construction;
        if (sibling.size() <= exact_limit()) {
            block_distances(q, sibling.begin, sibling.end, s.block);
            s.found.clear();
            for (std::size_t j = 0; j < s.block.size(); ++j) {
                s.found.push_back({s.block[j], static_cast<std::uint32_t>(sibling.begin + j)});
            }
            if (s.found.size() > ef) {
                std::nth_element(s.found.begin(), s.found.begin() + ef, s.found.end(), closer);
                s.found.resize(ef);
            }
        } else {
            search_segment(q, sibling, ef, dist, s);
        }
        s.candidates.insert(s.candidates.end(), s.found.begin(), s.found.end());
        std::sort(s.candidates.begin(), s.candidates.end(), closer);
        select_into(p, d, s);
    }

    // Beam search in the finished graph of `seg` (its depth's links stay inside it).
    void search_segment(const float* q, const Segment& seg, std::size_t ef, const Distance& dist, Scratch& s) {
        const SegmentLayout& layout = g_.layout_;
        VisitedTable& visited = *s.visited;
        visited.begin(layout.size());
        s.queue.clear();
        s.results.reset(ef);
        for (std::size_t e = seg.depth; e < layout.depths() && e <= seg.depth + 2; ++e) {
            const std::size_t shift = e - seg.depth;
            for (std::size_t i = seg.index << shift; i < (seg.index + 1) << shift; ++i) {
                if (!layout.exists(e, i)) break;
                const std::uint32_t ep = g_.entry(e, i);
                if (!visited.try_insert(ep)) continue;
                const Candidate c{dist(q, g_.vector(ep)), ep};
                s.queue.push(c);
                s.results.push(c);
            }
        }
        while (!s.queue.empty()) {
            const Candidate current = s.queue.pop();
            if (s.results.full() && current.distance > s.results.worst()) break;
            const std::uint32_t* sl = g_.slot(current.id, seg.depth);
            for (std::uint32_t j = 0; j < sl[0]; ++j) {
                const std::uint32_t v = sl[1 + j];
                if (!visited.try_insert(v)) continue;
                const float dv = dist(q, g_.vector(v));
                if (s.results.admits(dv)) {
                    s.queue.push({dv, v});
                    s.results.push({dv, v});
                }
            }
        }
        s.results.sorted_into(s.found);
    }

    // Adds the reverse of every link at depth d (see the file comment).
    void add_reverse_links(std::size_t d, std::size_t threads) {
        const SegmentLayout& layout = g_.layout_;
        const std::size_t n = layout.size();
        std::vector<std::uint64_t> offsets(n + 1, 0);
        for (std::size_t p = 0; p < n; ++p) {
            const std::uint32_t* sl = g_.slot(p, d);
            for (std::uint32_t j = 0; j < sl[0]; ++j) offsets[sl[1 + j] + 1] += 1;
        }
        for (std::size_t p = 0; p < n; ++p) offsets[p + 1] += offsets[p];
        std::vector<std::uint32_t> reverse(offsets[n]);
        {
            std::vector<std::uint64_t> cursor(offsets.begin(), offsets.end() - 1);
            for (std::size_t p = 0; p < n; ++p) {
                const std::uint32_t* sl = g_.slot(p, d);
                for (std::uint32_t j = 0; j < sl[0]; ++j) reverse[cursor[sl[1 + j]]++] = static_cast<std::uint32_t>(p);
            }
        }
        const std::size_t M = g_.params_.M;
        parallel_for(n, threads, 64, [&](std::size_t p, std::size_t w) {
            Scratch& s = scratch_[w];
            std::uint32_t* sl = g_.slot_to_write(p, d);
            // Lists of a one-child segment were copied from below; keep them.
            if (d < layout.leaf_depth() && !layout.exists(d + 1, 2 * layout.segment_of(p, d).index + 1)) return;
            std::uint32_t* forward_end = sl + 1 + sl[0];
            std::uint32_t fresh[kMaxFresh];
            std::size_t n_fresh = 0;
            bool overflow = false;
            for (std::uint64_t r = offsets[p]; r < offsets[p + 1]; ++r) {
                const std::uint32_t v = reverse[r];
                if (std::find(sl + 1, forward_end, v) != forward_end) continue;
                if (n_fresh == kMaxFresh) {
                    overflow = true;
                    break;
                }
                fresh[n_fresh++] = v;
            }
            if (n_fresh == 0) return;
            if (!overflow && sl[0] + n_fresh <= M) {
                for (std::size_t j = 0; j < n_fresh; ++j) sl[1 + sl[0] + j] = fresh[j];
                sl[0] += static_cast<std::uint32_t>(n_fresh);
                return;
            }
            const Distance dist = g_.distance();
            const float* q = g_.vector(p);
            s.candidates.clear();
            for (std::uint32_t j = 0; j < sl[0]; ++j) s.candidates.push_back({dist(q, g_.vector(sl[1 + j])), sl[1 + j]});
            for (std::uint64_t r = offsets[p]; r < offsets[p + 1]; ++r) {
                s.candidates.push_back({dist(q, g_.vector(reverse[r])), reverse[r]});
            }
            sort_unique(s.candidates);
            select_into(p, d, s);
        });
    }

    static constexpr std::size_t kSample = 1024;
    static constexpr std::size_t kExactLimit = 1024;
    static constexpr std::size_t kMaxFresh = 256;

    RangeGraph& g_;
    std::vector<Scratch> scratch_;
};

}  // namespace fanns::range
