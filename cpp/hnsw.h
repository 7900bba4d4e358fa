// Hierarchical navigable small-world graph (Malkov & Yashunin, 2018).
//
// Layout: rows in a RowStore (float rows, owned or borrowed, plus an optional
// 8-bit encoding that searches read); level-0 neighbour lists
// in one contiguous block of fixed-size slots [count, id0, id1, ...] (owned,
// or after a restore borrowed from a memory-mapped file); upper
// levels (few nodes) in small per-node arrays. Construction inserts nodes in
// parallel with a spin lock per node; levels are drawn from a seeded generator
// before insertion, so a build with one thread is deterministic.
//
// Search is a template over a predicate (see bitset.h; with AcceptAll the
// filter checks compile away) and over a scorer (store/scorers.h: floats or
// codes). Construction (hnsw_build.h) searches on codes too when there are
// codes, and chooses neighbours on exact distances.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bitset.h"
#include "huge_pages.h"
#include "metric.h"
#include "parallel.h"
#include "random.h"
#include "simd/distance.h"
#include "store/row_store.h"
#include "store/scorers.h"
#include "topk.h"
#include "validate.h"
#include "visited.h"

namespace fanns {

struct HnswParams {
    std::size_t M = 16;                // links per node on upper levels
    std::size_t M0 = 32;               // links per node on level 0
    std::size_t ef_construction = 200;
    std::uint64_t seed = 0;
    // 0: level-0 lists chosen by the diversity heuristic (plain HNSW).
    // > 0: ACORN-gamma lists (M0 = M * gamma): the nearest m_beta candidates
    // are kept, then further candidates unless a kept node already links to
    // them, so that the passing subgraph of a restrictive filter stays
    // connected within two hops.
    std::size_t m_beta = 0;
    // What searches read: float rows, or 8-bit codes with exact rescoring.
    Storage storage = Storage::f32;
    // With codes, whether insertion searches for candidates on them
    // (hnsw_build.h); otherwise it compares float rows throughout.
    bool build_on_codes = true;
};

class SpinLock {
public:
    void lock() {
        while (flag_.exchange(true, std::memory_order_acquire)) {
            while (flag_.load(std::memory_order_relaxed)) std::this_thread::yield();
        }
    }
    void unlock() { flag_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> flag_{false};
};

class Hnsw {
public:
    static constexpr std::uint32_t kNone = 0xffffffffu;

    Hnsw(std::size_t dim, Metric metric, const HnswParams& params)
        : dim_(dim), metric_(metric), params_(params), store_(dim, metric, params.storage) {
        if (dim == 0) throw std::invalid_argument("dimension must be positive");
        if (params_.M < 2) throw std::invalid_argument("M must be at least 2");
        if (params_.M0 < params_.M) throw std::invalid_argument("M0 must be at least M");
        if (params_.m_beta > params_.M0) throw std::invalid_argument("m_beta must be at most M * gamma");
        if (params_.M0 >= kMaxSlot) throw std::invalid_argument("M * gamma is too large");
        if (params_.ef_construction < 1) throw std::invalid_argument("ef_construction must be positive");
    }

    // A deep copy of the graph and its rows with fresh locks and scratch
    // tables: copy-on-write growth extends the copy while searches keep
    // reading this graph, which nothing changes. The copy owns its level-0
    // lists (borrowed ones are copied: growth writes them); borrowed rows
    // and codes stay borrowed until the store grows (see RowStore::append).
    Hnsw(const Hnsw& other)
        : dim_(other.dim_),
          metric_(other.metric_),
          params_(other.params_),
          size_(other.size_),
          slot0_(other.slot0_),
          store_(other.store_),
          links0_(other.links0_view_ ? other.links0_view_ : other.links0_.data(),
                  (other.links0_view_ ? other.links0_view_ : other.links0_.data()) + other.size_ * other.slot0_),
          links0_view_(links0_.data()),
          upper_(other.upper_),
          levels_(other.levels_),
          locks_(std::make_unique<SpinLock[]>(other.size_)),
          entry_(other.entry_),
          max_level_(other.max_level_),
          links0_checked_(other.links0_checked_) {}
    Hnsw& operator=(const Hnsw&) = delete;

    std::size_t size() const { return size_; }
    std::size_t dim() const { return dim_; }
    Metric metric() const { return metric_; }
    const HnswParams& params() const { return params_; }
    const float* vector(std::uint32_t id) const { return store_.row(id); }
    const float* vectors() const { return store_.rows(); }
    const RowStore& store() const { return store_; }
    std::uint32_t entry_point() const { return entry_; }
    int max_level() const { return max_level_; }
    int level(std::uint32_t id) const { return levels_[id]; }

    Distance distance() const { return Distance(metric_, dim_, simd::active_kernels()); }

    // Level-0 neighbours of a node, as a (pointer, count) pair. Lists
    // restored without checking them (see StateView::check_payload) may name
    // ids past size(): traversals skip those with linked().
    const std::uint32_t* neighbours0(std::uint32_t id, std::size_t* count) const {
        const std::uint32_t* slot = links0_view_ + std::size_t(id) * slot0_;
        *count = std::min<std::size_t>(slot[0], params_.M0);
        return slot + 1;
    }
    // Whether a level-0 list entry names a row of this graph.
    bool linked(std::uint32_t id) const { return id < size_; }
    const std::uint32_t* links0() const { return links0_view_; }
    const std::uint32_t* neighbours(std::uint32_t id, int lc, std::size_t* count) const {
        if (lc == 0) return neighbours0(id, count);
        const std::uint32_t* slot = upper_[id].data() + std::size_t(lc - 1) * (params_.M + 1);
        *count = slot[0];
        return slot + 1;
    }

    // Progress and cancellation of a build, shared with another thread:
    // `done` counts inserted rows; once `cancel` is set the remaining
    // inserts are skipped (each insert takes milliseconds at most).
    struct BuildControl {
        std::atomic<std::size_t> done{0};
        std::atomic<bool> cancel{false};
    };

    // Builds the graph over `n` rows of `data` (row-major, rows `stride`
    // floats apart; 0: dim). With `borrow` the rows are read in place for the
    // graph's lifetime (the caller keeps them alive and unchanged); otherwise
    // they are copied. Returns false when `control` cancelled the build: the
    // graph is then left empty, as before the call.
    bool build(const float* data, std::size_t n, std::size_t threads, std::size_t stride = 0, bool borrow = false,
               BuildControl* control = nullptr);  // hnsw_build.h

    // Back to the state of a new graph.
    void clear() {
        size_ = 0;
        slot0_ = 0;
        store_ = RowStore(dim_, metric_, params_.storage);
        links0_ = {};
        links0_view_ = nullptr;
        upper_ = {};
        levels_ = {};
        locks_.reset();
        entry_ = kNone;
        max_level_ = -1;
        links0_checked_ = true;
    }

    // Appends `m` rows (row-major) and inserts them into the graph with the
    // insertion a build uses, on `threads` threads; the new rows' codes use
    // the bounds fitted at build (see RowStore::append). Their levels come
    // from a generator seeded by the seed and the current size, so the same
    // batches grow the same graph with one thread. Never called on a graph
    // that searches read.
    void extend(const float* data, std::size_t m, std::size_t threads);  // hnsw_build.h

    // Whether insertion compares codes (sq8 rows with codes: hnsw_build.h).
    bool builds_on_codes() const;

    // Greedy descent through the upper levels to a level-0 entry point.
    template <class Scorer>
    std::uint32_t descend(const Scorer& score) const {
        std::uint32_t current = entry_;
        float current_d = score(current);
        for (int lc = max_level_; lc > 0; --lc) {
            bool moved = true;
            while (moved) {
                moved = false;
                std::size_t count;
                const std::uint32_t* nbrs = neighbours(current, lc, &count);
                for (std::size_t j = 0; j < count; ++j) {
                    const float d = score(nbrs[j]);
                    if (d < current_d) {
                        current_d = d;
                        current = nbrs[j];
                        moved = true;
                    }
                }
            }
        }
        return current;
    }

    // Best-first search on level 0 from `entry`. Every node is traversed,
    // only nodes that pass `pred` enter the results. Stops when the nearest
    // unexpanded candidate is farther than the ef-th result.
    template <class Pred, class Scorer>
    void search_level0(const Scorer& score, std::uint32_t entry, std::size_t ef, const Pred& pred,
                       VisitedTable& visited, CandidateQueue& queue, ResultHeap& results) const {
        queue.clear();
        results.reset(ef);
        const float d0 = score(entry);
        visited.insert(entry);
        queue.push({d0, entry});
        if (pred(entry)) results.push({d0, entry});
        std::uint32_t fresh[kMaxSlot];
        float scores[kMaxSlot];
        while (!queue.empty()) {
            const Candidate current = queue.top();
            if (results.full() && current.distance > results.worst()) break;
            queue.pop();
            if (!queue.empty()) __builtin_prefetch(links0_view_ + std::size_t(queue.top().id) * slot0_);
            std::size_t count;
            const std::uint32_t* nbrs = neighbours0(current.id, &count);
            std::size_t n_fresh = 0;
            for (std::size_t j = 0; j < count; ++j) {
                const std::uint32_t v = nbrs[j];
                if (linked(v) && visited.try_insert(v)) fresh[n_fresh++] = v;
            }
            score.batch(fresh, n_fresh, scores);
            for (std::size_t j = 0; j < n_fresh; ++j) {
                const std::uint32_t v = fresh[j];
                const float d = scores[j];
                if (results.admits(d)) {
                    queue.push({d, v});
                    if (pred(v)) results.push({d, v});
                }
            }
        }
    }

    // Bytes of the graph alone: links, levels and locks (rows: store()).
    std::size_t link_bytes() const {
        std::size_t total = links0_.capacity() * sizeof(std::uint32_t) + levels_.capacity() +
                            upper_.capacity() * sizeof(std::vector<std::uint32_t>) + size_ * sizeof(SpinLock);
        for (const auto& u : upper_) total += u.capacity() * sizeof(std::uint32_t);
        return total;
    }
    std::size_t memory_bytes() const {
        return link_bytes() + store_.float_bytes() + store_.code_bytes() + store_.half_bytes();
    }
    // Bytes read in place from memory the graph does not own (rows, codes
    // and level-0 lists borrowed from a memory map).
    std::size_t borrowed_link_bytes() const { return links0_.empty() ? size_ * slot0_ * sizeof(std::uint32_t) : 0; }
    std::size_t borrowed_bytes() const {
        return store_.borrowed_float_bytes() + store_.borrowed_code_bytes() + store_.borrowed_half_bytes() +
               borrowed_link_bytes();
    }

    // A saved graph read back (hnsw_restore.h): levels, upper lists, entry
    // point and sizes always checked; rows and level-0 lists checked, or
    // trusted and read in place. Returns false when `control` cancelled it
    // (checked every few milliseconds of work; `done` counts rows checked):
    // the graph is then left as it was.
    struct StateView;
    bool restore(const StateView& s, BuildControl* control = nullptr);

    // The flattened upper lists (offsets n + 1, links), as StateView reads them.
    void upper_state(std::vector<std::uint64_t>& offsets, std::vector<std::uint32_t>& links) const {
        offsets.assign(size_ + 1, 0);
        for (std::size_t i = 0; i < size_; ++i) offsets[i + 1] = offsets[i] + upper_[i].size();
        links.clear();
        links.reserve(offsets[size_]);
        for (const auto& u : upper_) links.insert(links.end(), u.begin(), u.end());
    }
    const std::vector<std::uint8_t>& levels() const { return levels_; }
    std::size_t slot0() const { return slot0_; }

    // Pool shared by every search on this graph.
    VisitedPool& visited_pool() const { return visited_pool_; }

    static constexpr std::size_t kMaxSlot = 2048;

private:
    static constexpr int kMaxLevel = 30;

    template <class Fail>
    static void check_slot(const std::uint32_t* slot, std::size_t capacity, std::size_t n, Fail&& fail) {
        if (slot[0] > capacity) fail("neighbour count");
        for (std::uint32_t j = 0; j < slot[0]; ++j) {
            if (slot[1 + j] >= n) fail("neighbour id");
        }
    }

    std::uint32_t* slot(std::uint32_t id, int lc) {
        if (lc == 0) return links0_.data() + std::size_t(id) * slot0_;
        return upper_[id].data() + std::size_t(lc - 1) * (params_.M + 1);
    }
    std::size_t capacity(int lc) const { return lc == 0 ? params_.M0 : params_.M; }

    // Copy of a node's list at a level, read under its lock (construction only).
    void read_links(std::uint32_t id, int lc, std::vector<std::uint32_t>& out) {
        std::lock_guard<SpinLock> guard(locks_[id]);
        const std::uint32_t* s = slot(id, lc);
        out.assign(s + 1, s + 1 + s[0]);
    }

    // Construction (hnsw_build.h).
    struct InsertScratch;
    void insert_range(std::size_t first, std::size_t last, std::size_t threads, BuildControl* control);
    void insert(std::uint32_t id, InsertScratch& s);
    template <class Scorer>
    void insert_with(std::uint32_t id, const Scorer& score, InsertScratch& s);
    // Best-first search from s.entries for the ef nearest at level lc, into
    // s.found (nearest first); `self` (the node inserted) is never one.
    template <class Scorer>
    void search_layer(std::uint32_t self, const Scorer& score, std::size_t ef, int lc, InsertScratch& s);
    // s.found scored again on the float rows, into s.exact (nearest first).
    void rescore_found(const FloatScorer& exact, InsertScratch& s);
    // Neighbour selection heuristic: keep a candidate only if it is closer to
    // the base than to every neighbour already kept. `candidates` sorted.
    void select_neighbours(const std::vector<Candidate>& candidates, std::size_t m, const Distance& dist,
                           std::vector<Candidate>& kept) const;
    // ACORN-gamma selection (see HnswParams::m_beta); `candidates` sorted.
    void select_expanded(const std::vector<Candidate>& candidates, std::size_t m, std::vector<Candidate>& kept);
    void select_for_level(const std::vector<Candidate>& candidates, std::size_t m, int lc, const Distance& dist,
                          std::vector<Candidate>& kept);
    // Adds `from` (at exact distance d) to the list of `to` at level lc,
    // pruning with the heuristic when full.
    void link_back(std::uint32_t to, std::uint32_t from, float d, int lc, const Distance& dist, InsertScratch& s);
    // With parallel construction another thread can reach a node through its
    // upper levels and link to it on a lower level before the node writes
    // that level's list itself. Those links are kept: merged with the node's
    // own choice and pruned as a full list would be. Called under the lock.
    void merge_existing(std::uint32_t id, int lc, const std::uint32_t* s, const Distance& dist,
                        std::vector<Candidate>& kept);

    std::size_t dim_;
    Metric metric_;
    HnswParams params_;
    std::size_t size_ = 0;
    std::size_t slot0_ = 0;
    RowStore store_;
    LargeVector<std::uint32_t> links0_;              // owned level-0 lists (empty when borrowed)
    const std::uint32_t* links0_view_ = nullptr;     // links0_.data() or the borrowed lists
    std::vector<std::vector<std::uint32_t>> upper_;
    std::vector<std::uint8_t> levels_;
    std::unique_ptr<SpinLock[]> locks_;
    std::mutex entry_mutex_;
    std::uint32_t entry_ = kNone;
    int max_level_ = -1;
    // False after a restore that did not check the level-0 lists (a mapped
    // file under verify="header"): searches guard each read, growth checks
    // them all first.
    bool links0_checked_ = true;
    mutable VisitedPool visited_pool_;
};

}  // namespace fanns

#include "hnsw_build.h"
