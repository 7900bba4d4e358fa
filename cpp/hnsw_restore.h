// Reading a saved HNSW graph back: the arrays of a loaded (or memory-mapped)
// index file, checked and then copied or read in place.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hnsw.h"

namespace fanns {

// A saved graph as the engine reads it back: pointers into arrays the
// caller holds (a loaded file or its memory map). Sizes are the caller's
// to match: rows n x row_stride floats, links0 n x (M0 + 1), levels n,
// upper_offsets n + 1, upper_links upper_offsets[n]; codes, when given,
// n x QuantizedRows::stride_for(dim) bytes; f16 rows, when given, n x dim.
struct Hnsw::StateView {
    std::size_t n = 0;
    const float* rows = nullptr;
    std::size_t row_stride = 0;  // 0: dim
    const std::uint32_t* links0 = nullptr;
    const std::uint8_t* levels = nullptr;
    const std::uint64_t* upper_offsets = nullptr;
    const std::uint32_t* upper_links = nullptr;
    std::uint32_t entry = kNone;
    int max_level = -1;
    const std::uint8_t* codes = nullptr;  // null: derive them from the rows
    QuantizedRows::Bounds code_bounds;
    const std::uint16_t* halves = nullptr;  // null: derive them from the rows
    int half_exponent = 0;
    // Read rows, level-0 links, codes and f16 rows in place instead of copying
    // them; the caller keeps them alive and unchanged.
    bool borrow = false;
    // Check every row (finite, bounded) and every level-0 link (in
    // range) before relying on them: reads all of both. Without it the
    // rows and links are trusted, and traversals skip out-of-range ids
    // (a damaged file then answers wrongly rather than crashing).
    bool check_payload = true;
};

// Levels, upper lists, entry point and sizes are always checked (they
// are small); the graph is left as it was if any check fails or `control`
// cancels. The long passes (rows, level-0 lists, upper lists) go a block of
// rows at a time and look at `control->cancel` between blocks; `done` counts
// rows passed, three passes of n with check_payload, one without.
inline bool Hnsw::restore(const StateView& s, BuildControl* control) {
    if (size_ != 0) throw std::logic_error("index is already built");
    const std::size_t n = s.n;
    const std::size_t slot0 = params_.M0 + 1;
    const std::size_t row_stride = s.row_stride ? s.row_stride : dim_;
    auto fail = [](const std::string& what) { throw std::invalid_argument("corrupt index: " + what); };
    if (n >= kNone) fail("row count");
    if (row_stride < dim_) fail("row stride");
    if (n > 0 && (!s.rows || !s.links0 || !s.levels)) fail("missing sections");
    if (!s.upper_offsets || s.upper_offsets[0] != 0) fail("upper link offsets");
    if (n > 0 && (s.entry >= n || s.max_level != s.levels[s.entry])) fail("entry point");
    if (n == 0 && s.entry != kNone) fail("entry point");
    // About 4M floats or links a block: a few milliseconds of checking.
    const std::size_t row_block = std::max<std::size_t>(1, (std::size_t(1) << 22) / std::max(dim_, slot0));
    auto stopped = [&](std::size_t rows_passed) {
        if (!control) return false;
        control->done.fetch_add(rows_passed, std::memory_order_relaxed);
        return control->cancel.load(std::memory_order_relaxed);
    };
    if (control && control->cancel.load()) return false;
    if (s.check_payload) {
        for (std::size_t first = 0; first < n; first += row_block) {
            const std::size_t count = std::min(row_block, n - first);
            check_rows(s.rows + first * row_stride, count, dim_, "stored vectors", row_stride, first);
            if (stopped(count)) return false;
        }
    }
    std::vector<std::vector<std::uint32_t>> upper(n);
    for (std::size_t i = 0; i < n; ++i) {
        if ((i + 1) % row_block == 0 && stopped(row_block)) return false;
        if (s.levels[i] > kMaxLevel || s.levels[i] > s.max_level) fail("node level");
        const std::size_t begin = s.upper_offsets[i], end = s.upper_offsets[i + 1];
        if (end < begin || end - begin != std::size_t(s.levels[i]) * (params_.M + 1)) fail("upper link list size");
        if (end == begin) continue;
        if (!s.upper_links) fail("upper links");
        upper[i].assign(s.upper_links + begin, s.upper_links + end);
        for (int lc = 0; lc < s.levels[i]; ++lc) {
            const std::uint32_t* slot = upper[i].data() + std::size_t(lc) * (params_.M + 1);
            check_slot(slot, params_.M, n, fail);
            // A neighbour at level lc + 1 must itself live on that level.
            for (std::uint32_t j = 0; j < slot[0]; ++j) {
                if (s.levels[slot[1 + j]] < lc + 1) fail("upper neighbour level");
            }
        }
    }
    if (stopped(n % row_block)) return false;
    if (s.check_payload) {
        for (std::size_t first = 0; first < n; first += row_block) {
            const std::size_t end = std::min(n, first + row_block);
            for (std::size_t i = first; i < end; ++i) check_slot(s.links0 + i * slot0, params_.M0, n, fail);
            if (stopped(end - first)) return false;
        }
    }
    RowStore store(dim_, metric_, params_.storage);
    if (s.borrow) store.borrow(s.rows, n, row_stride);
    else store.assign(s.rows, n, row_stride);
    if (s.codes) store.restore_codes(s.code_bounds, s.codes, s.borrow);
    if (s.halves) store.restore_halves(s.half_exponent, s.halves, s.borrow);
    if (!s.codes && !s.halves) store.encode(0);
    LargeVector<std::uint32_t> links0;
    if (!s.borrow) links0.assign(s.links0, s.links0 + n * slot0);
    // Nothing below throws: the graph changes all at once.
    slot0_ = slot0;
    store_ = std::move(store);
    links0_ = std::move(links0);
    links0_view_ = s.borrow ? s.links0 : links0_.data();
    levels_.assign(s.levels, s.levels + n);
    upper_ = std::move(upper);
    locks_ = std::make_unique<SpinLock[]>(n);
    entry_ = s.entry;
    max_level_ = s.max_level;
    links0_checked_ = s.check_payload;
    size_ = n;
    return true;
}

}  // namespace fanns
