// Range graph: k-NN search restricted to rows whose ordered key lies in
// [lo, hi], answered by one index for every possible range.
//
// Design choice. Two published designs compress "one proximity graph per key
// range" into a single structure:
//   * Segment graph (SeRF, Zuo et al., SIGMOD 2024): one HNSW-like graph whose
//     edges carry the interval of left/right range bounds for which they are
//     valid. Points must be inserted in key order (construction is largely
//     sequential), each edge stores its validity interval (two to four extra
//     words per edge), and the number of stored edges per point grows with the
//     ef used at construction rather than with M; the exact-cover guarantee
//     holds for half-bounded ranges and is only approximated for two-sided
//     ones.
//   * Segment tree of elemental graphs (iRangeGraph, Xu et al., SIGMOD 2025):
//     points sorted by key, a segment tree over the sorted order, a graph
//     with out-degree M for each tree node over that node's points. A query
//     improvises the graph of [lo, hi] on the fly: a point's neighbours come
//     from the levels whose segment around it is inside the range, and links
//     that leave the range are skipped.
//   For our data (n up to a few million, 384-4096 dims, M = 16) the second
//   is the better trade: memory is n * (M + 1) * 4 bytes per tree depth,
//   1 + ceil(log2(n / leaf_size)) depths (n = 5M, leaf 128: 17 depths, about
//   1.1 KB of links per point against 16 KB for a 4096-d vector; n = 50k at
//   384-d: 10 depths, 680 B against 1.5 KB), every depth is built in
//   parallel over points with read-only lower depths (deterministic with any
//   thread count), and every [lo, hi] is served with the same guarantees.
//   The price is construction time: each depth costs about one HNSW
//   insertion per point (measured: about 3x an HNSW build of the same rows
//   for n = 50k, 384-d).
//
// Layout. Rows with a key are sorted by (key, id); `order` maps a sorted
// position to the original row id. The vectors are not copied: the graph
// reads the caller's rows (in original row order, total_rows x dim) through
// `order`, so an index and its range graph share one block of vectors; the
// caller keeps that block alive and unchanged for the graph's lifetime.
// Links are positions, not ids, so "inside the range" is one comparison with
// no indirection, and a point's links for all depths are contiguous:
// slot(pos, d) = [count, p0, p1, ...] with room for M links.
// Every link at depth d stays inside the point's segment at depth d. Each
// segment also stores an entry point: the member nearest its mean vector.
//
// Encoded rows. With `quantized` (the default) searches score candidates on
// an encoding of the rows and score only the best ef again on the float
// rows. When the index's row store (store/row_store.h) keeps an encoding of
// every row in row order (8-bit codes under sq8, f16 rows under f16), the
// graph reads that one through `order` (share_store): no second encoding of
// the vectors. A store of float rows only (f32) has none to lend: the graph
// then keeps 8-bit codes of its own (quantized_rows.h), in position order,
// so the rows of a range are one contiguous block; with `quantized` false it
// reads the float rows. Own codes are derived from the rows, so they are
// rebuilt on restore, not stored.
//
// Construction: range_builder.h. Search: range_search.h.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "metric.h"
#include "quantized_rows.h"
#include "store/row_store.h"
#include "range/segment_layout.h"
#include "simd/distance.h"
#include "visited.h"

namespace fanns::range {

struct RangeGraphParams {
    std::size_t M = 16;                 // out-degree of every elemental graph
    std::size_t ef_construction = 64;   // candidates gathered per point and depth
    std::size_t leaf_size = 128;        // width of the smallest segments
    bool quantized = true;              // search on an encoding of the rows (see above)
};

// What searches score candidates on.
enum class RangeEncoding : std::int8_t { floats = 0, codes = 1, halves = 2 };

class RangeGraph {
public:
    RangeGraph(std::size_t dim, Metric metric, const RangeGraphParams& params)
        : dim_(dim), metric_(metric), params_(params) {
        if (dim == 0) throw std::invalid_argument("dimension must be positive");
        if (params.M < 2 || params.M > 1024) throw std::invalid_argument("M must be in [2, 1024]");
        if (params.ef_construction < 1) throw std::invalid_argument("ef_construction must be positive");
        if (params.leaf_size < 2 || params.leaf_size > (std::size_t(1) << 24)) {
            throw std::invalid_argument("leaf_size must be in [2, 2**24]");
        }
    }

    std::size_t dim() const { return dim_; }
    Metric metric() const { return metric_; }
    const RangeGraphParams& params() const { return params_; }
    // Rows in the range graph (rows with a key).
    std::size_t size() const { return layout_.size(); }
    // Rows of the whole data set (ids and predicate bitsets are over these).
    std::size_t total_rows() const { return total_rows_; }
    const SegmentLayout& layout() const { return layout_; }
    std::size_t slot_size() const { return params_.M + 1; }

    const float* vector(std::size_t position) const { return rows_ + std::size_t(order_[position]) * row_stride_; }
    // Every row in original row order (total_rows rows of dim floats,
    // row_stride() floats apart), not owned.
    const float* rows() const { return rows_; }
    std::size_t row_stride() const { return row_stride_; }
    std::uint32_t row_id(std::size_t position) const { return order_[position]; }
    const std::uint32_t* order() const { return order_.data(); }
    RangeEncoding encoding() const { return encoding_; }
    // 8-bit codes, read at code_row(position); empty unless encoding() is codes.
    const QuantizedRows& codes() const { return encoding_ == RangeEncoding::codes && store_ ? store_->codes() : codes_; }
    std::uint32_t code_row(std::size_t position) const {
        return store_ != nullptr ? order_[position] : static_cast<std::uint32_t>(position);
    }
    // The store's f16 rows (row order), read at row_id(position); encoding() halves.
    const HalfRows& halves() const { return store_->halves(); }
    // Bytes a distance reads on the encoding searches use.
    double scanned_row_bytes() const {
        switch (encoding_) {
            case RangeEncoding::codes: return double(codes().stride());
            case RangeEncoding::halves: return HalfRows::row_bytes(dim_);
            case RangeEncoding::floats: break;
        }
        return 4.0 * double(dim_);
    }
    // Reads the encoding of `store` (every row, in row order; must outlive
    // the graph) when it keeps one, instead of keeping codes of its own.
    // Call before build or restore.
    void share_store(const RowStore* store) { store_ = store; }
    // Whether searches read the shared store's encoding (set by build or restore).
    bool shares_store() const { return store_ != nullptr; }
    std::size_t own_code_bytes() const { return codes_.memory_bytes(); }

    const std::uint32_t* slot(std::size_t position, std::size_t depth) const {
        return links() + (position * layout_.depths() + depth) * slot_size();
    }
    // The link block: the graph's own, or one read in place (restore).
    const std::uint32_t* links() const { return borrowed_links_ != nullptr ? borrowed_links_ : links_.data(); }
    std::size_t link_count() const { return size() * layout_.depths() * slot_size(); }
    // A slot of the graph's own links, to write (construction only).
    std::uint32_t* slot_to_write(std::size_t position, std::size_t depth) {
        return links_.data() + (position * layout_.depths() + depth) * slot_size();
    }
    std::uint32_t entry(std::size_t depth, std::size_t index) const {
        return entries_[layout_.offset(depth) + index];
    }

    Distance distance() const { return Distance(metric_, dim_, simd::active_kernels()); }
    VisitedPool& visited_pool() const { return visited_pool_; }

    // Links read in place (restore), not counted by memory_bytes().
    std::size_t borrowed_bytes() const {
        return borrowed_links_ != nullptr ? link_count() * sizeof(std::uint32_t) : 0;
    }
    // Bytes the graph owns (the shared rows and links read in place are not counted).
    std::size_t memory_bytes() const {
        return order_.capacity() * sizeof(std::uint32_t) + links_.capacity() * sizeof(std::uint32_t) +
               entries_.capacity() * sizeof(std::uint32_t) + codes_.memory_bytes();
    }

    // Plain arrays: order (size), links (size x depths x (M + 1)), entries
    // (one per segment). The rows are the caller's.
    struct State {
        std::size_t total_rows = 0;
        std::vector<std::uint32_t> order;
        std::vector<std::uint32_t> links;
        std::vector<std::uint32_t> entries;
    };

    State state() const {
        return State{total_rows_, order_, std::vector<std::uint32_t>(links(), links() + link_count()), entries_};
    }

    // Checks every size, id and link; throws std::invalid_argument on the
    // first inconsistency and leaves the graph unchanged. `rows` (s.total_rows
    // rows of dim floats, `row_stride` floats apart (0: dim), original row
    // order) must outlive the graph.
    //
    // `borrowed` (with s.links empty): the link block is read in place from
    // there (borrowed_size entries, which must be n x depths x slot_size();
    // kept alive and unchanged by the caller), as a memory-mapped file's. `check_links` false: the links are
    // trusted, not read (a load stays O(1) in them); a traversal then skips
    // any neighbour outside its range and reads at most M per slot, so a
    // damaged block answers wrongly, never out of bounds. Order and entry
    // points are always checked.
    void restore(State s, const float* rows, std::size_t row_stride = 0, const std::uint32_t* borrowed = nullptr,
                 std::size_t borrowed_size = 0, bool check_links = true) {
        if (row_stride == 0) row_stride = dim_;
        if (row_stride < dim_) throw std::invalid_argument("corrupt range graph: row stride below dim");
        auto fail = [](const std::string& what) { throw std::invalid_argument("corrupt range graph: " + what); };
        const std::size_t n = s.order.size();
        if (s.total_rows < n || s.total_rows >= 0xffffffffu) fail("row count");
        if (rows == nullptr && s.total_rows > 0) fail("no rows");
        const SegmentLayout layout(n, params_.leaf_size);
        const std::size_t slot = slot_size();
        if (borrowed != nullptr && !s.links.empty()) fail("two link blocks");
        if (!check_links && borrowed == nullptr) fail("unchecked links must be read in place");
        if ((borrowed != nullptr ? borrowed_size : s.links.size()) != n * layout.depths() * slot) {
            fail("link block size");
        }
        const std::uint32_t* links = borrowed != nullptr ? borrowed : s.links.data();
        if (s.entries.size() != layout.total_segments()) fail("entry point count");
        std::vector<std::uint8_t> seen(s.total_rows, 0);
        for (std::uint32_t id : s.order) {
            if (id >= s.total_rows || seen[id]) fail("row order");
            seen[id] = 1;
        }
        for (std::size_t d = 0; d < layout.depths(); ++d) {
            for (std::size_t i = 0; i < layout.segments(d); ++i) {
                const Segment seg = layout.segment(d, i);
                const std::uint32_t e = s.entries[layout.offset(d) + i];
                if (e < seg.begin || e >= seg.end) fail("segment entry point");
            }
        }
        for (std::size_t p = 0; check_links && p < n; ++p) {
            for (std::size_t d = 0; d < layout.depths(); ++d) {
                const Segment seg = layout.segment_of(p, d);
                const std::uint32_t* sl = links + (p * layout.depths() + d) * slot;
                if (sl[0] > params_.M) fail("neighbour count");
                for (std::uint32_t j = 0; j < sl[0]; ++j) {
                    if (sl[1 + j] < seg.begin || sl[1 + j] >= seg.end || sl[1 + j] == p) fail("neighbour position");
                }
            }
        }
        layout_ = layout;
        total_rows_ = s.total_rows;
        rows_ = rows;
        row_stride_ = row_stride;
        order_ = std::move(s.order);
        links_ = std::move(s.links);
        borrowed_links_ = borrowed;
        entries_ = std::move(s.entries);
        encode_rows();
        visited_pool_.clear();
    }

private:
    friend class RangeGraphBuilder;

    void encode_rows(std::size_t threads = 0) {
        codes_.clear();
        encoding_ = RangeEncoding::floats;
        if (!params_.quantized) {
            store_ = nullptr;
            return;
        }
        if (store_ != nullptr) {
            if (store_->size() != total_rows_ || store_->dim() != dim_) {
                throw std::invalid_argument("the shared row store does not cover the graph's rows");
            }
            if (store_->coded()) {
                encoding_ = RangeEncoding::codes;
                return;
            }
            if (store_->halved()) {
                encoding_ = RangeEncoding::halves;
                return;
            }
            store_ = nullptr;  // float rows only: keep codes of our own
        }
        codes_.assign(rows_, order_.data(), order_.size(), dim_, metric_, threads, row_stride_);
        if (!codes_.empty()) encoding_ = RangeEncoding::codes;
    }

    std::size_t dim_;
    Metric metric_;
    RangeGraphParams params_;
    std::size_t total_rows_ = 0;
    SegmentLayout layout_;
    const float* rows_ = nullptr;
    std::size_t row_stride_ = 0;  // floats from one row to the next
    std::vector<std::uint32_t> order_;
    std::vector<std::uint32_t> links_;
    const std::uint32_t* borrowed_links_ = nullptr;  // read in place instead of links_ (restore)
    std::vector<std::uint32_t> entries_;
    QuantizedRows codes_;
    const RowStore* store_ = nullptr;
    RangeEncoding encoding_ = RangeEncoding::floats;
    mutable VisitedPool visited_pool_;
};

}  // namespace fanns::range
