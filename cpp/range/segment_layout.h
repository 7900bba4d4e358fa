// The segment tree over key-sorted positions [0, n).
//
// Depth 0 is the root; the deepest depth holds the leaves. A segment at depth
// d is `width(d) = leaf_size << (leaf_depth - d)` positions wide and aligned
// to that width, so the segment of a position at any depth is one division,
// and the two children of segment s are segments 2s and 2s+1 one depth
// lower. The last segment of a depth may be short; segments past n do not
// exist.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace fanns::range {

struct Segment {
    std::size_t depth;
    std::size_t index;
    std::size_t begin;
    std::size_t end;
    std::size_t size() const { return end - begin; }
};

class SegmentLayout {
public:
    SegmentLayout() = default;

    SegmentLayout(std::size_t n, std::size_t leaf_size) : n_(n), leaf_size_(leaf_size) {
        if (leaf_size == 0) throw std::invalid_argument("leaf_size must be positive");
        if (n == 0) return;
        std::size_t leaf_depth = 0;
        while ((leaf_size << leaf_depth) < n) ++leaf_depth;
        depths_ = leaf_depth + 1;
        offsets_.assign(depths_ + 1, 0);
        for (std::size_t d = 0; d < depths_; ++d) offsets_[d + 1] = offsets_[d] + segments(d);
    }

    std::size_t size() const { return n_; }
    std::size_t leaf_size() const { return leaf_size_; }
    // Number of depths (0 when there are no positions).
    std::size_t depths() const { return depths_; }
    std::size_t leaf_depth() const { return depths_ - 1; }
    std::size_t width(std::size_t depth) const { return leaf_size_ << (leaf_depth() - depth); }
    std::size_t segments(std::size_t depth) const { return (n_ + width(depth) - 1) / width(depth); }
    // Segments over all depths; a segment's flat number is offset(depth) + index.
    std::size_t total_segments() const { return depths_ == 0 ? 0 : offsets_[depths_]; }
    std::size_t offset(std::size_t depth) const { return offsets_[depth]; }

    Segment segment(std::size_t depth, std::size_t index) const {
        const std::size_t w = width(depth);
        const std::size_t begin = index * w;
        const std::size_t end = begin + w < n_ ? begin + w : n_;
        return {depth, index, begin, end};
    }
    Segment segment_of(std::size_t position, std::size_t depth) const {
        return segment(depth, position / width(depth));
    }
    bool exists(std::size_t depth, std::size_t index) const {
        return depth < depths_ && index * width(depth) < n_;
    }

    // The canonical cover of [lo, hi): the fewest segments lying entirely
    // inside it. Positions in partially covered leaves are not included.
    void cover(std::size_t lo, std::size_t hi, std::vector<Segment>& out) const {
        out.clear();
        if (depths_ == 0 || lo >= hi) return;
        cover_from(0, 0, lo, hi, out);
    }

private:
    void cover_from(std::size_t depth, std::size_t index, std::size_t lo, std::size_t hi,
                    std::vector<Segment>& out) const {
        const Segment s = segment(depth, index);
        if (s.end <= lo || s.begin >= hi) return;
        if (lo <= s.begin && s.end <= hi) {
            out.push_back(s);
            return;
        }
        if (depth + 1 == depths_) return;
        for (std::size_t child = 2 * index; child <= 2 * index + 1; ++child) {
            if (exists(depth + 1, child)) cover_from(depth + 1, child, lo, hi, out);
        }
    }

    std::size_t n_ = 0;
    std::size_t leaf_size_ = 1;
    std::size_t depths_ = 0;
    std::vector<std::size_t> offsets_;
};

}  // namespace fanns::range
