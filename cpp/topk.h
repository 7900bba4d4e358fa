// Candidates and the bounded heaps of graph search.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "simd/compare.h"

namespace fanns {

struct Candidate {
    float distance;
    std::uint32_t id;
};

// Whether `a` ranks before `b` when larger values are better (`larger`) or
// smaller ones are; ties by smaller id. A total order even with NaN, which
// ranks after every number, so sorts and heaps never see an inconsistent
// comparison (the engine rejects input that would produce one).
template <bool larger>
inline bool ranks_before(const Candidate& a, const Candidate& b) {
    if (larger ? a.distance > b.distance : a.distance < b.distance) return true;
    if (larger ? b.distance > a.distance : b.distance < a.distance) return false;
    if (a.distance == b.distance) return a.id < b.id;
    const bool a_nan = a.distance != a.distance, b_nan = b.distance != b.distance;
    if (a_nan != b_nan) return b_nan;
    return a.id < b.id;
}

// Orders by distance, then id, so that results are deterministic.
inline bool closer(const Candidate& a, const Candidate& b) { return ranks_before<false>(a, b); }

// Rankings a ResultHeap can keep. Each says whether `a` ranks before `b`
// (ties by smaller id) and whether a value `a` beats a value `b`.
struct SmallerFirst {  // distances: smaller is better
    bool operator()(const Candidate& a, const Candidate& b) const { return closer(a, b); }
    static bool beats(float a, float b) { return a < b; }
};
struct LargerFirst {  // scores such as inner products: larger is better
    bool operator()(const Candidate& a, const Candidate& b) const { return ranks_before<true>(a, b); }
    static bool beats(float a, float b) { return a > b; }
};

// The best `capacity` candidates seen so far under `Rank`; the worst kept one
// sits on top. `Candidate::distance` holds whatever value `Rank` orders.
template <class Rank>
class RankedHeap {
public:
    explicit RankedHeap(std::size_t capacity = 0) : capacity_(capacity) { items_.reserve(capacity + 1); }
    void reset(std::size_t capacity) {
        capacity_ = capacity;
        items_.clear();
        items_.reserve(capacity + 1);
    }
    bool full() const { return items_.size() >= capacity_; }
    bool empty() const { return items_.empty(); }
    std::size_t size() const { return items_.size(); }
    float worst() const { return items_.front().distance; }
    // Whether a candidate at `distance` would enter the heap.
    bool admits(float distance) const { return !full() || Rank::beats(distance, worst()); }
    void push(Candidate c) {
        if (full()) {
            if (capacity_ == 0 || !Rank()(c, items_.front())) return;
            std::pop_heap(items_.begin(), items_.end(), Rank());
            items_.back() = c;
        } else {
            items_.push_back(c);
        }
        std::push_heap(items_.begin(), items_.end(), Rank());
    }
    // Moves the contents out, best first.
    void sorted_into(std::vector<Candidate>& out) {
        std::sort_heap(items_.begin(), items_.end(), Rank());
        out.assign(items_.begin(), items_.end());
        items_.clear();
    }
    const std::vector<Candidate>& items() const { return items_; }

private:
    std::size_t capacity_;
    std::vector<Candidate> items_;
};

// The nearest `capacity` candidates seen so far; the farthest sits on top.
using ResultHeap = RankedHeap<SmallerFirst>;
// The `capacity` largest scores seen so far; the smallest kept sits on top.
using ScoreHeap = RankedHeap<LargerFirst>;

// Moves the k smallest of keys[0..n) to keys[0..k), the k-th smallest at
// keys[k - 1], and returns it; 1 <= k <= n, `scratch` holds n keys. A
// quickselect whose partition does not branch on the keys (comparisons of
// scores mispredict half the time), for the short buffers of a scan. Its
// pivot (a median of three) can be poor on ordered keys (a V or an organ
// pipe of distances): a round that keeps more than 7/8 of the keys hands
// the rest to std::nth_element, so the cost stays linear.
inline std::uint64_t select_smallest(std::uint64_t* keys, std::size_t n, std::size_t k, std::uint64_t* scratch) {
    std::uint64_t* a = keys;
    while (n > 8) {
        if (k == n) return *std::max_element(a, a + n);  // all of them
        const std::size_t before = n;
        const std::uint64_t x = a[0], y = a[n / 2], z = a[n - 1];
        const std::uint64_t pivot = std::max(std::min(x, y), std::min(std::max(x, y), z));
        std::size_t low = 0, high = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t v = a[i];
            const bool below = v < pivot;
            a[low] = v;  // low <= i: never overwrites a key not yet read
            scratch[high] = v;
            low += below;
            high += !below;
        }
        if (k <= low) {
            n = low;
        } else {
            std::copy(scratch, scratch + high, a + low);
            a += low;
            k -= low;
            n = high;
        }
        if (8 * n > 7 * before) break;  // a poor pivot (or repeated keys): no more rounds
    }
    std::nth_element(a, a + std::ptrdiff_t(k - 1), a + n);
    return a[k - 1];
}

// The nearest `capacity` candidates of a scan, kept lazily: a candidate
// within the running bound is appended, and the buffer is cut back to the
// nearest `capacity` (a partial selection) once it holds twice that. Early
// in a scan most candidates enter; this costs them an append, not a heap
// update. Keeps what a ResultHeap would, ties included (by smaller id).
// Candidates are held as one 64-bit key each (distance, then id), so the
// cut compares integers.
class ScanSelection {
public:
    void reset(std::size_t capacity) {
        capacity_ = capacity;
        bound_ = capacity == 0 ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
        keys_.clear();
        keys_.reserve(2 * capacity + 1);
    }
    // Pushes the rows ids[j] whose scores[j] are within the bound. Scores
    // are tested sixteen at a time against the bound at the start of the
    // sixteen (it only tightens, so this admits a superset, which cut()
    // culls); a scan's scores mostly fail, and cost one test per sixteen.
    void admit(const std::uint32_t* ids, const float* scores, std::size_t len) {
        std::size_t j = 0;
        for (; j + 16 <= len; j += 16) {
            const unsigned first = simd::at_most8(scores + j, bound_);
            for (unsigned bits = first | (simd::at_most8(scores + j + 8, bound_) << 8); bits != 0; bits &= bits - 1) {
                const std::size_t t = j + std::size_t(__builtin_ctz(bits));
                push(scores[t], ids[t]);
            }
        }
        for (; j < len; ++j) {
            if (scores[j] <= bound_) push(scores[j], ids[j]);
        }
    }
    // Moves the nearest `capacity` out, nearest first.
    void sorted_into(std::vector<Candidate>& out) {
        cut();
        std::sort(keys_.begin(), keys_.end());
        out.resize(keys_.size());
        for (std::size_t i = 0; i < keys_.size(); ++i) out[i] = {distance_of(keys_[i]), std::uint32_t(keys_[i])};
        keys_.clear();
    }

private:
    void push(float distance, std::uint32_t id) {
        if (capacity_ == 0) return;
        keys_.push_back(key_of(distance, id));
        if (keys_.size() >= 2 * capacity_) cut();
    }
    // Orders as distance (-0 as +0), then id; for distances that are not NaN.
    static std::uint64_t key_of(float distance, std::uint32_t id) {
        std::uint32_t u;
        const float d = distance + 0.0f;  // -0 becomes +0: they tie
        std::memcpy(&u, &d, sizeof u);
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
        return (std::uint64_t(u) << 32) | id;
    }
    static float distance_of(std::uint64_t key) {
        std::uint32_t u = std::uint32_t(key >> 32);
        u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
        float d;
        std::memcpy(&d, &u, sizeof d);
        return d;
    }
    void cut() {
        if (capacity_ == 0) keys_.clear();
        if (keys_.size() <= capacity_) return;
        scratch_.resize(keys_.size());
        bound_ = distance_of(select_smallest(keys_.data(), keys_.size(), capacity_, scratch_.data()));
        keys_.resize(capacity_);
    }

    std::size_t capacity_ = 0;
    float bound_ = 0.0f;
    std::vector<std::uint64_t> keys_;
    std::vector<std::uint64_t> scratch_;
};

// Unbounded queue of candidates to expand; the nearest sits on top.
class CandidateQueue {
public:
    void clear() { items_.clear(); }
    bool empty() const { return items_.empty(); }
    std::size_t size() const { return items_.size(); }
    const Candidate& top() const { return items_.front(); }
    void push(Candidate c) {
        items_.push_back(c);
        std::push_heap(items_.begin(), items_.end(), farther);
    }
    Candidate pop() {
        std::pop_heap(items_.begin(), items_.end(), farther);
        Candidate c = items_.back();
        items_.pop_back();
        return c;
    }

private:
    static bool farther(const Candidate& a, const Candidate& b) { return closer(b, a); }
    std::vector<Candidate> items_;
};

}  // namespace fanns
