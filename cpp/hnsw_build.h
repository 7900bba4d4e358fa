// Construction of the graph (Hnsw::build and Hnsw::extend): the insertion
// of one node, shared by both.
//
// An insertion descends the upper levels greedily, then on each of its own
// levels runs a best-first search for ef_construction candidates, keeps a
// diverse few of them (the heuristic of the HNSW paper) and links back.
//
// When the store holds 8-bit codes (storage sq8) the descent and the
// candidate searches compare codes, as queries do: a quarter of the float
// rows' bytes per distance, with the same batched kernels that fetch rows
// ahead. The candidates found are then scored again on their float rows and
// the neighbours are chosen, and pruned on link-back, on exact distances, as
// on a float build, so the lists hold the same kind of neighbours. Codes are
// therefore made before insertion: build() encodes the rows first, and
// extend() appends codes with the bounds fitted at build. Without codes
// (storage f32, or a shape codes cannot hold) everything compares floats.
//
// Each worker keeps its scratch (heaps, lists, visited table, the prepared
// query) across the nodes it inserts.
#pragma once

#include "hnsw.h"  // which includes this file at its end

namespace fanns {

struct Hnsw::InsertScratch {
    explicit InsertScratch(std::size_t n) : visited(n) {}
    VisitedTable visited;
    CandidateQueue queue;
    ResultHeap results;
    std::vector<std::uint32_t> links, ids;
    std::vector<float> scores;
    std::vector<Candidate> entries, found, exact, kept, pool, pruned;
    QuantizedRows::Query code;
};

inline bool Hnsw::build(const float* data, std::size_t n, std::size_t threads, std::size_t stride, bool borrow,
                        BuildControl* control) {
    if (size_ != 0) throw std::logic_error("index is already built");
    if (n >= kNone) throw std::invalid_argument("too many vectors");
    if (stride == 0) stride = dim_;
    if (stride < dim_) throw std::invalid_argument("row stride is smaller than the dimension");
    check_rows(data, n, dim_, "vectors", stride);
    slot0_ = params_.M0 + 1;
    if (borrow) store_.borrow(data, n, stride);
    else store_.assign(data, n, stride);
    // Codes first: insertion compares them (the bounds come from these rows).
    store_.encode(threads);
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
    links0_checked_ = true;
    if (n == 0) return true;
    entry_ = 0;
    max_level_ = levels_[0];
    insert_range(1, n, threads, control);
    if (control && control->cancel.load()) {
        clear();
        return false;
    }
    return true;
}

inline void Hnsw::extend(const float* data, std::size_t m, std::size_t threads) {
    if (size_ == 0) {
        build(data, m, threads);
        return;
    }
    if (m == 0) return;
    if (m >= std::size_t(kNone) - size_) throw std::invalid_argument("too many vectors");
    check_rows(data, m, dim_, "vectors");
    if (!links0_checked_) {  // read in place unchecked: insertion follows every id it finds
        auto fail = [](const std::string& what) { throw std::invalid_argument("corrupt index: " + what); };
        for (std::size_t i = 0; i < size_; ++i) check_slot(links0_view_ + i * slot0_, params_.M0, size_, fail);
        links0_checked_ = true;
    }
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
    insert_range(old, n, threads, nullptr);
}

inline void Hnsw::insert_range(std::size_t first, std::size_t last, std::size_t threads, BuildControl* control) {
    const std::size_t count = last - first;
    std::vector<std::unique_ptr<InsertScratch>> scratch(workers_for(count, threads));
    parallel_for(count, threads, 64, [&](std::size_t i, std::size_t worker) {
        if (control && control->cancel.load(std::memory_order_relaxed)) return;
        if (!scratch[worker]) scratch[worker] = std::make_unique<InsertScratch>(size_);
        insert(static_cast<std::uint32_t>(first + i), *scratch[worker]);
        if (control) control->done.fetch_add(1, std::memory_order_relaxed);
    });
}

inline bool Hnsw::builds_on_codes() const {
    return params_.build_on_codes && store_.coded() && store_.codes().size() == size_;
}

inline void Hnsw::insert(std::uint32_t id, InsertScratch& s) {
    const float* q = vector(id);
    if (builds_on_codes()) {
        store_.codes().prepare(q, s.code);
        insert_with(id, CodeScorer(store_, s.code, q), s);
    } else {
        insert_with(id, FloatScorer(store_, q), s);
    }
}

template <class Scorer>
void Hnsw::insert_with(std::uint32_t id, const Scorer& score, InsertScratch& s) {
    const int lvl = levels_[id];
    std::unique_lock<std::mutex> top_guard(entry_mutex_);
    std::uint32_t current = entry_;
    const int top = max_level_;
    // A node that raises the top level keeps the lock for its whole
    // insertion so that the entry point it installs is already linked.
    if (lvl <= top) top_guard.unlock();
    float current_d = score(current);
    for (int lc = top; lc > lvl; --lc) {
        bool moved = true;
        while (moved) {
            moved = false;
            read_links(current, lc, s.links);
            s.scores.resize(s.links.size());
            score.batch(s.links.data(), s.links.size(), s.scores.data());
            for (std::size_t j = 0; j < s.links.size(); ++j) {
                if (s.scores[j] < current_d) {
                    current_d = s.scores[j];
                    current = s.links[j];
                    moved = true;
                }
            }
        }
    }
    s.entries.assign(1, Candidate{current_d, current});
    const Distance dist = distance();
    for (int lc = std::min(lvl, top); lc >= 0; --lc) {
        search_layer(id, score, params_.ef_construction, lc, s);
        const std::vector<Candidate>* candidates = &s.found;
        if constexpr (Scorer::approximate) {
            rescore_found(score.exact, s);
            candidates = &s.exact;
        }
        select_for_level(*candidates, lc == 0 && params_.m_beta > 0 ? params_.M0 : params_.M, lc, dist, s.kept);
        {
            std::lock_guard<SpinLock> guard(locks_[id]);
            std::uint32_t* slot_ = slot(id, lc);
            if (slot_[0] != 0) merge_existing(id, lc, slot_, dist, s.kept);
            slot_[0] = static_cast<std::uint32_t>(s.kept.size());
            for (std::size_t j = 0; j < s.kept.size(); ++j) slot_[1 + j] = s.kept[j].id;
        }
        for (const Candidate& c : s.kept) link_back(c.id, id, c.distance, lc, dist, s);
        std::swap(s.entries, s.found);  // the next level starts from this one's candidates
    }
    if (lvl > top) {
        entry_ = id;
        max_level_ = lvl;
    }
}

template <class Scorer>
void Hnsw::search_layer(std::uint32_t self, const Scorer& score, std::size_t ef, int lc, InsertScratch& s) {
    VisitedTable& visited = s.visited;
    visited.begin(size_);
    // Another thread may already link to this node: never a candidate of itself.
    visited.insert(self);
    s.queue.clear();
    s.results.reset(ef);
    for (const Candidate& e : s.entries) {
        if (e.id == self) {
            s.queue.push(e);  // reached through such a link: expanded, never a result
            continue;
        }
        if (!visited.try_insert(e.id)) continue;
        s.queue.push(e);
        s.results.push(e);
    }
    while (!s.queue.empty()) {
        const Candidate current = s.queue.pop();
        if (s.results.full() && current.distance > s.results.worst()) break;
        read_links(current.id, lc, s.links);
        s.ids.clear();
        for (std::uint32_t v : s.links) {
            if (linked(v) && visited.try_insert(v)) s.ids.push_back(v);
        }
        s.scores.resize(s.ids.size());
        score.batch(s.ids.data(), s.ids.size(), s.scores.data());
        for (std::size_t j = 0; j < s.ids.size(); ++j) {
            const float d = s.scores[j];
            if (s.results.admits(d)) {
                s.queue.push({d, s.ids[j]});
                s.results.push({d, s.ids[j]});
            }
        }
    }
    s.results.sorted_into(s.found);
}

inline void Hnsw::rescore_found(const FloatScorer& exact, InsertScratch& s) {
    const std::size_t count = s.found.size();
    s.ids.resize(count);
    s.scores.resize(count);
    for (std::size_t j = 0; j < count; ++j) s.ids[j] = s.found[j].id;
    exact.batch(s.ids.data(), count, s.scores.data());
    s.exact.resize(count);
    for (std::size_t j = 0; j < count; ++j) s.exact[j] = Candidate{s.scores[j], s.ids[j]};
    std::sort(s.exact.begin(), s.exact.end(), closer);
}

inline void Hnsw::select_neighbours(const std::vector<Candidate>& candidates, std::size_t m, const Distance& dist,
                                    std::vector<Candidate>& kept) const {
    kept.clear();
    for (const Candidate& c : candidates) {
        if (kept.size() >= m) break;
        bool diverse = true;
        const float* row = vector(c.id);
        for (const Candidate& k : kept) {
            // Dropped when a kept node is closer to it than the base is, or
            // when it duplicates a kept node (l2, cosine): long runs of
            // identical rows would otherwise fill every list and cut
            // distinct rows off.
            const float to_kept = dist(row, vector(k.id));
            if (to_kept < c.distance || (to_kept <= 0.0f && metric_ != Metric::ip)) {
                diverse = false;
                break;
            }
        }
        if (diverse) kept.push_back(c);
    }
}

inline void Hnsw::select_expanded(const std::vector<Candidate>& candidates, std::size_t m,
                                  std::vector<Candidate>& kept) {
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

inline void Hnsw::select_for_level(const std::vector<Candidate>& candidates, std::size_t m, int lc,
                                   const Distance& dist, std::vector<Candidate>& kept) {
    if (lc == 0 && params_.m_beta > 0) select_expanded(candidates, m, kept);
    else select_neighbours(candidates, m, dist, kept);
}

inline void Hnsw::link_back(std::uint32_t to, std::uint32_t from, float d, int lc, const Distance& dist,
                            InsertScratch& s) {
    std::lock_guard<SpinLock> guard(locks_[to]);
    std::uint32_t* list = slot(to, lc);
    const std::size_t cap = capacity(lc);
    for (std::uint32_t j = 0; j < list[0]; ++j) {
        if (list[1 + j] == from) return;
    }
    if (list[0] < cap) {
        list[1 + list[0]] = from;
        list[0] += 1;
        return;
    }
    // Full: the list and the newcomer, by their exact distances to `to`
    // (one batched call that fetches the rows ahead), pruned again.
    const std::size_t count = list[0];
    s.scores.resize(count);
    FloatScorer(store_, vector(to)).batch(list + 1, count, s.scores.data());
    s.pool.clear();
    s.pool.push_back({d, from});
    for (std::size_t j = 0; j < count; ++j) s.pool.push_back({s.scores[j], list[1 + j]});
    std::sort(s.pool.begin(), s.pool.end(), closer);
    if (lc == 0 && params_.m_beta > 0) {
        // Expanded lists keep the nearest; reading other lists here could deadlock.
        s.pool.resize(std::min(cap, s.pool.size()));
        list[0] = static_cast<std::uint32_t>(s.pool.size());
        for (std::size_t j = 0; j < s.pool.size(); ++j) list[1 + j] = s.pool[j].id;
        return;
    }
    select_neighbours(s.pool, cap, dist, s.pruned);
    list[0] = static_cast<std::uint32_t>(s.pruned.size());
    for (std::size_t j = 0; j < s.pruned.size(); ++j) list[1 + j] = s.pruned[j].id;
}

inline void Hnsw::merge_existing(std::uint32_t id, int lc, const std::uint32_t* s, const Distance& dist,
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

}  // namespace fanns
