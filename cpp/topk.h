// Candidates and the bounded heaps of graph search.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

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

// The nearest `capacity` candidates of a scan, kept lazily: a candidate
// within the running bound is appended, and the buffer is cut back to the
// nearest `capacity` (a partial selection) once it holds twice that. Early
// in a scan most candidates enter; this costs them an append, not a heap
// update. Keeps what a ResultHeap would, ties included (by smaller id).
class ScanSelection {
public:
    void reset(std::size_t capacity) {
        capacity_ = capacity;
        bound_ = capacity == 0 ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
        items_.clear();
        items_.reserve(2 * capacity + 1);
    }
    // Whether a candidate at `distance` may be among the nearest (NaN never is).
    bool admits(float distance) const { return distance <= bound_; }
    // Candidates farther than this are not admitted; it only decreases.
    float bound() const { return bound_; }
    void push(Candidate c) {
        if (capacity_ == 0) return;
        items_.push_back(c);
        if (items_.size() >= 2 * capacity_) cut();
    }
    // Moves the nearest `capacity` out, nearest first.
    void sorted_into(std::vector<Candidate>& out) {
        cut();
        std::sort(items_.begin(), items_.end(), Nearer());
        out.assign(items_.begin(), items_.end());
        items_.clear();
    }

private:
    // closer() for candidates that are never NaN (none is admitted).
    struct Nearer {
        bool operator()(const Candidate& a, const Candidate& b) const {
            return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
        }
    };
    void cut() {
        if (capacity_ == 0) items_.clear();
        if (items_.size() <= capacity_) return;
        std::nth_element(items_.begin(), items_.begin() + std::ptrdiff_t(capacity_ - 1), items_.end(), Nearer());
        items_.resize(capacity_);
        bound_ = items_.back().distance;
    }

    std::size_t capacity_ = 0;
    float bound_ = 0.0f;
    std::vector<Candidate> items_;
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
