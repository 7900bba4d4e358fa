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
// codes). Construction always compares float rows.
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
          max_level_(other.max_level_) {}
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
               BuildControl* control = nullptr) {
        if (size_ != 0) throw std::logic_error("index is already built");
        if (n >= kNone) throw std::invalid_argument("too many vectors");
        if (stride == 0) stride = dim_;
        if (stride < dim_) throw std::invalid_argument("row stride is smaller than the dimension");
        check_rows(data, n, dim_, "vectors", stride);
        slot0_ = params_.M0 + 1;
        if (borrow) store_.borrow(data, n, stride);
        else store_.assign(data, n, stride);
        links0_.assign(n * slot0_, 0);
        links0_view_ = links0_.data();
        upper_.assign(n, {});
        levels_.assign(n, 0);
        locks_ = std::make_unique<SpinLock[]>(n);
        SplitMix64 rng(params_.seed);
        for (std::size_t i = 0; i < n; ++i) {
            const int lvl = geometric_level(rng, params_.M, kMaxLevel);
            levels_[i] = static_cast<std::uint8_t>(lvl);
            if (lvl > 0) upper_[i].assign(std::size_t(lvl) * (params_.M + 1), 0);
        }
        size_ = n;
        if (n == 0) return true;
        entry_ = 0;
        max_level_ = levels_[0];
        const Distance dist = distance();
        parallel_for(n - 1, threads, 64, [&](std::size_t i, std::size_t) {
            if (control && control->cancel.load(std::memory_order_relaxed)) return;
            insert(static_cast<std::uint32_t>(i + 1), dist);
            if (control) control->done.fetch_add(1, std::memory_order_relaxed);
        });
        if (control && control->cancel.load()) {
            clear();
            return false;
        }
        store_.encode(threads);
        return true;
    }

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
    }

    // Appends `m` rows (row-major) and inserts them into the graph with the
    // insertion a build uses, on `threads` threads; the new rows' codes use
    // the bounds fitted at build (see RowStore::append). Their levels come
    // from a generator seeded by the seed and the current size, so the same
    // batches grow the same graph with one thread. Never called on a graph
    // that searches read.
    void extend(const float* data, std::size_t m, std::size_t threads) {
        if (size_ == 0) {
            build(data, m, threads);
            return;
        }
        if (m == 0) return;
        if (m >= std::size_t(kNone) - size_) throw std::invalid_argument("too many vectors");
        check_rows(data, m, dim_, "vectors");
        const std::size_t old = size_, n = size_ + m;
        store_.append(data, m, threads);
        // Exact reservations: a grown graph holds no spare capacity.
        if (links0_.empty()) links0_.assign(links0_view_, links0_view_ + old * slot0_);  // borrowed: own them
        links0_.reserve(n * slot0_);
        links0_.resize(n * slot0_, 0);
        links0_view_ = links0_.data();
        levels_.reserve(n);
        levels_.resize(n, 0);
        upper_.reserve(n);
        upper_.resize(n);
        locks_ = std::make_unique<SpinLock[]>(n);
        SplitMix64 rng(params_.seed ^ (0x9e3779b97f4a7c15ull * old));
        for (std::size_t i = old; i < n; ++i) {
            const int lvl = geometric_level(rng, params_.M, kMaxLevel);
            levels_[i] = static_cast<std::uint8_t>(lvl);
            if (lvl > 0) upper_[i].assign(std::size_t(lvl) * (params_.M + 1), 0);
        }
        size_ = n;
        const Distance dist = distance();
        parallel_for(m, threads, 64, [&](std::size_t i, std::size_t) {
            insert(static_cast<std::uint32_t>(old + i), dist);
        });
    }

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
    // trusted and read in place.
    struct StateView;
    void restore(const StateView& s);

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

    // Best-first search during construction: the ef nearest found, nearest first.
    void search_layer(const float* query, const std::vector<Candidate>& entries, std::size_t ef, int lc,
                      const Distance& dist, std::vector<Candidate>& out) {
        auto lease = visited_pool_.acquire(size_);
        VisitedTable& visited = *lease;
        CandidateQueue queue;
        ResultHeap results(ef);
        for (const Candidate& e : entries) {
            if (!visited.try_insert(e.id)) continue;
            queue.push(e);
            results.push(e);
        }
        std::vector<std::uint32_t> links;
        while (!queue.empty()) {
            const Candidate current = queue.pop();
            if (results.full() && current.distance > results.worst()) break;
            read_links(current.id, lc, links);
            for (std::uint32_t v : links) {
                if (!visited.try_insert(v)) continue;
                const float d = dist(query, vector(v));
                if (results.admits(d)) {
                    queue.push({d, v});
                    results.push({d, v});
                }
            }
        }
        results.sorted_into(out);
    }

    // Neighbour selection heuristic: keep a candidate only if it is closer to
    // the base than to every neighbour already kept. `candidates` sorted.
    void select_neighbours(const std::vector<Candidate>& candidates, std::size_t m, const Distance& dist,
                           std::vector<Candidate>& kept) const {
        kept.clear();
        for (const Candidate& c : candidates) {
            if (kept.size() >= m) break;
            bool diverse = true;
            for (const Candidate& k : kept) {
                // Dropped when a kept node is closer to it than the base is, or
                // when it duplicates a kept node (l2, cosine): long runs of
                // identical rows would otherwise fill every list and cut
                // distinct rows off.
                const float to_kept = dist(vector(c.id), vector(k.id));
                if (to_kept < c.distance || (to_kept <= 0.0f && metric_ != Metric::ip)) {
                    diverse = false;
                    break;
                }
            }
            if (diverse) kept.push_back(c);
        }
    }

    // ACORN-gamma selection (see HnswParams::m_beta); `candidates` sorted.
    void select_expanded(const std::vector<Candidate>& candidates, std::size_t m, std::vector<Candidate>& kept) {
        kept.clear();
        std::vector<std::uint32_t> reachable, links;
        for (const Candidate& c : candidates) {
            if (kept.size() >= m) break;
            if (kept.size() >= params_.m_beta) {
                if (reachable.empty()) {
                    for (const Candidate& k : kept) {
                        read_links(k.id, 0, links);
                        reachable.insert(reachable.end(), links.begin(), links.end());
                    }
                    std::sort(reachable.begin(), reachable.end());
                }
                if (std::binary_search(reachable.begin(), reachable.end(), c.id)) continue;
            }
            kept.push_back(c);
        }
    }

    void select_for_level(const std::vector<Candidate>& candidates, std::size_t m, int lc, const Distance& dist,
                          std::vector<Candidate>& kept) {
        if (lc == 0 && params_.m_beta > 0) select_expanded(candidates, m, kept);
        else select_neighbours(candidates, m, dist, kept);
    }

    // Adds `from` to the list of `to` at level lc, pruning with the heuristic when full.
    void link_back(std::uint32_t to, std::uint32_t from, float d, int lc, const Distance& dist) {
        std::lock_guard<SpinLock> guard(locks_[to]);
        std::uint32_t* s = slot(to, lc);
        const std::size_t cap = capacity(lc);
        for (std::uint32_t j = 0; j < s[0]; ++j) {
            if (s[1 + j] == from) return;
        }
        if (s[0] < cap) {
            s[1 + s[0]] = from;
            s[0] += 1;
            return;
        }
        std::vector<Candidate> pool;
        pool.reserve(cap + 1);
        pool.push_back({d, from});
        const float* base = vector(to);
        for (std::uint32_t j = 0; j < s[0]; ++j) pool.push_back({dist(base, vector(s[1 + j])), s[1 + j]});
        std::sort(pool.begin(), pool.end(), closer);
        std::vector<Candidate> kept;
        if (lc == 0 && params_.m_beta > 0) {
            // Expanded lists keep the nearest; reading other lists here could deadlock.
            kept.assign(pool.begin(), pool.begin() + std::min(cap, pool.size()));
        } else {
            select_neighbours(pool, cap, dist, kept);
        }
        s[0] = static_cast<std::uint32_t>(kept.size());
        for (std::size_t j = 0; j < kept.size(); ++j) s[1 + j] = kept[j].id;
    }

    // With parallel construction another thread can reach a node through its
    // upper levels and link to it on a lower level before the node writes
    // that level's list itself. Those links are kept: merged with the node's
    // own choice and pruned as a full list would be. Called under the lock.
    void merge_existing(std::uint32_t id, int lc, const std::uint32_t* s, const Distance& dist,
                        std::vector<Candidate>& kept) {
        std::vector<Candidate> pool(kept);
        const float* base = vector(id);
        for (std::uint32_t j = 0; j < s[0]; ++j) {
            const std::uint32_t v = s[1 + j];
            bool known = false;
            for (const Candidate& c : kept) known = known || c.id == v;
            if (!known) pool.push_back({dist(base, vector(v)), v});
        }
        std::sort(pool.begin(), pool.end(), closer);
        const std::size_t cap = capacity(lc);
        if (pool.size() <= cap) {
            kept = std::move(pool);
        } else if (lc == 0 && params_.m_beta > 0) {
            kept.assign(pool.begin(), pool.begin() + cap);
        } else {
            select_neighbours(pool, cap, dist, kept);
        }
    }

    void insert(std::uint32_t id, const Distance& dist) {
        const int lvl = levels_[id];
        std::unique_lock<std::mutex> top_guard(entry_mutex_);
        std::uint32_t entry = entry_;
        const int top = max_level_;
        // A node that raises the top level keeps the lock for its whole
        // insertion so that the entry point it installs is already linked.
        if (lvl <= top) top_guard.unlock();
        const float* q = vector(id);
        std::uint32_t current = entry;
        float current_d = dist(q, vector(current));
        std::vector<std::uint32_t> links;
        for (int lc = top; lc > lvl; --lc) {
            bool moved = true;
            while (moved) {
                moved = false;
                read_links(current, lc, links);
                for (std::uint32_t v : links) {
                    const float d = dist(q, vector(v));
                    if (d < current_d) {
                        current_d = d;
                        current = v;
                        moved = true;
                    }
                }
            }
        }
        std::vector<Candidate> entries{{current_d, current}};
        std::vector<Candidate> found, kept;
        for (int lc = std::min(lvl, top); lc >= 0; --lc) {
            search_layer(q, entries, params_.ef_construction, lc, dist, found);
            select_for_level(found, lc == 0 && params_.m_beta > 0 ? params_.M0 : params_.M, lc, dist, kept);
            {
                std::lock_guard<SpinLock> guard(locks_[id]);
                std::uint32_t* s = slot(id, lc);
                if (s[0] != 0) merge_existing(id, lc, s, dist, kept);
                s[0] = static_cast<std::uint32_t>(kept.size());
                for (std::size_t j = 0; j < kept.size(); ++j) s[1 + j] = kept[j].id;
            }
            for (const Candidate& c : kept) link_back(c.id, id, c.distance, lc, dist);
            entries = std::move(found);
        }
        if (lvl > top) {
            entry_ = id;
            max_level_ = lvl;
        }
    }

    std::size_t dim_;
    Metric metric_;
    HnswParams params_;
    std::size_t size_ = 0;
    std::size_t slot0_ = 0;
    RowStore store_;
    std::vector<std::uint32_t> links0_;              // owned level-0 lists (empty when borrowed)
    const std::uint32_t* links0_view_ = nullptr;     // links0_.data() or the borrowed lists
    std::vector<std::vector<std::uint32_t>> upper_;
    std::vector<std::uint8_t> levels_;
    std::unique_ptr<SpinLock[]> locks_;
    std::mutex entry_mutex_;
    std::uint32_t entry_ = kNone;
    int max_level_ = -1;
    mutable VisitedPool visited_pool_;
};

}  // namespace fanns
