// Array conversion and argument checks shared by the engine bindings (hnsw,
// range, sparse, fusion, and the benchmark's plain inverted index): numpy
// copies and read-only views of engine memory, the shape of query batches,
// sections read back from saved state, CSR batches, and the one check of
// filter bitsets and per-query filter indices the engines rely on.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bitset.h"
#include "sparse/csr_view.h"

namespace fanns::bindings {

namespace py = pybind11;

// C-contiguous arrays of T; other dtypes and layouts are converted (copied).
template <class T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

// Float rows as the engine reads them: a pointer, a count and a row stride.
struct RowsView {
    const float* data = nullptr;
    std::size_t n = 0;
    std::size_t stride = 0;  // floats
};

// Accepts float32 (n, dim) arrays whose columns are adjacent floats and
// whose rows start a whole, non-negative number of floats apart.
inline RowsView rows_view(const py::array& a, std::size_t dim, const char* what, bool corrupt = false) {
    const std::string prefix = corrupt ? "corrupt index: " : "";
    if (!py::isinstance<py::array_t<float>>(a) || a.ndim() != 2 || std::size_t(a.shape(1)) != dim) {
        throw py::value_error(prefix + what + " must be a float32 array of shape (n, " + std::to_string(dim) + ")");
    }
    const py::ssize_t row = a.shape(0) > 1 ? a.strides(0) : py::ssize_t(dim * sizeof(float));
    if ((dim > 1 && a.strides(1) != py::ssize_t(sizeof(float))) || row < py::ssize_t(dim * sizeof(float)) ||
        row % py::ssize_t(sizeof(float)) != 0 || reinterpret_cast<std::uintptr_t>(a.data()) % alignof(float) != 0) {
        throw py::value_error(prefix + what + " must have adjacent, aligned float32 columns and rows a whole "
                              "number of floats apart");
    }
    return RowsView{static_cast<const float*>(a.data()), std::size_t(a.shape(0)), std::size_t(row) / sizeof(float)};
}


// A copy of `v` as a numpy array of `shape` (default: 1-D, v.size()).
template <class T>
py::array_t<T> to_numpy(const std::vector<T>& v, std::vector<py::ssize_t> shape) {
    py::array_t<T> out(shape);
    if (!v.empty()) std::memcpy(out.mutable_data(), v.data(), v.size() * sizeof(T));
    return out;
}
template <class T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
    return to_numpy(v, {static_cast<py::ssize_t>(v.size())});
}

inline void make_read_only(py::array& a) {
    py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
}

// A read-only numpy view of engine memory that keeps `owner` alive (empty
// strides: C order).
template <class T>
py::array_t<T> read_only_view(const T* data, std::vector<py::ssize_t> shape, py::object owner,
                              std::vector<py::ssize_t> strides = {}) {
    py::array_t<T> out = strides.empty() ? py::array_t<T>(shape, data, owner)
                                         : py::array_t<T>(shape, strides, data, owner);
    make_read_only(out);
    return out;
}

// A batch of queries: (nq, dim). Returns nq.
inline std::size_t checked_queries(const Array<float>& queries, std::size_t dim) {
    if (queries.ndim() != 2 || std::size_t(queries.shape(1)) != dim) {
        throw py::value_error("queries must have shape (nq, " + std::to_string(dim) + ")");
    }
    return std::size_t(queries.shape(0));
}

inline void check_k(std::size_t k) {
    if (k == 0) throw py::value_error("k must be at least 1");
}

// A section of saved state, copied: present, an array, converted to T and
// flattened (`one_d`: it must be 1-D). Errors start with `what` ("corrupt
// range graph", ...).
template <class T>
std::vector<T> section_copy(const py::dict& d, const char* key, const char* what, bool one_d = false) {
    if (!d.contains(key)) throw py::value_error(std::string(what) + ": missing section " + key);
    py::object obj = d[key];
    if (!py::isinstance<py::array>(obj)) throw py::value_error(std::string(what) + ": bad section " + key);
    const Array<T> a = Array<T>::ensure(obj);
    if (!a || (one_d && a.ndim() != 1)) throw py::value_error(std::string(what) + ": bad section " + key);
    return std::vector<T>(a.data(), a.data() + a.size());
}

// Documents or queries in CSR form, with offsets checked against the arrays.
inline sparse::CsrView csr_view(const Array<std::int64_t>& indptr, const Array<std::uint32_t>& indices, const Array<float>& data,
                 std::uint64_t n_cols) {
    if (indptr.ndim() != 1 || indices.ndim() != 1 || data.ndim() != 1) {
        throw py::value_error("indptr, indices and data must be 1-D");
    }
    if (indptr.shape(0) < 1) throw py::value_error("indptr must hold at least one offset");
    if (indices.shape(0) != data.shape(0)) throw py::value_error("indices and data differ in length");
    sparse::CsrView v;
    v.indptr = indptr.data();
    v.indices = indices.data();
    v.data = data.data();
    v.n_rows = static_cast<std::size_t>(indptr.shape(0) - 1);
    v.n_cols = n_cols;
    // Offsets are checked against the arrays before anything reads them.
    const std::int64_t* p = v.indptr;
    if (p[0] != 0) throw py::value_error("indptr must start at 0");
    for (std::size_t i = 0; i < v.n_rows; ++i) {
        if (p[i + 1] < p[i]) throw py::value_error("indptr decreases at row " + std::to_string(i));
    }
    if (p[v.n_rows] > indices.shape(0)) throw py::value_error("indptr runs past indices/data");
    return v;
}

// The filters of one batched search, checked once for every engine: each
// bitset covers exactly `n` rows (ceil(n / 64) words), there is one count
// per bitset when counts are given, and each query's filter index is -1
// (none) or names a bitset. The checked indices stay alive with the object.
class QueryFilters {
public:
    QueryFilters(const std::vector<Array<std::uint64_t>>& bitsets, std::size_t n, const py::object& query_filter,
                 std::size_t nq) {
        for (const auto& b : bitsets) {
            if (b.ndim() != 1 || std::size_t(b.size()) != (n + 63) / 64) {
                throw py::value_error("each filter bitset must hold ceil(n / 64) uint64 words");
            }
            views_.push_back(BitsetView{b.data(), n});
        }
        if (query_filter.is_none()) return;
        const Array<std::int32_t> index = Array<std::int32_t>::ensure(query_filter);
        if (!index || index.ndim() != 1 || std::size_t(index.size()) != nq) {
            throw py::value_error("query_filter must hold one entry per query");
        }
        const std::int32_t* f = index.data();
        for (std::size_t i = 0; i < nq; ++i) {
            if (f[i] < -1 || f[i] >= static_cast<std::int32_t>(views_.size())) {
                throw py::value_error("query_filter index out of range");
            }
        }
        index_ = index;
        query_filter_ = f;
    }

    // With one count per bitset (the engine recounts where it relies on them).
    QueryFilters(const std::vector<Array<std::uint64_t>>& bitsets, const std::vector<std::size_t>& counts,
                 std::size_t n, const py::object& query_filter, std::size_t nq)
        : QueryFilters(bitsets, n, query_filter, nq) {
        if (counts.size() != bitsets.size()) throw py::value_error("one count per filter bitset");
    }

    const std::vector<BitsetView>& bitsets() const { return views_; }
    // Per query: an index into bitsets() or -1; nullptr when none was given.
    const std::int32_t* query_filter() const { return query_filter_; }

private:
    std::vector<BitsetView> views_;
    py::object index_;                           // keeps the checked indices alive
    const std::int32_t* query_filter_ = nullptr;
};

}  // namespace fanns::bindings
