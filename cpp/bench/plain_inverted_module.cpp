// fanns.bench._plain_inverted: the plain (unblocked) term-at-a-time inverted
// index with static pruning, the compiled baseline of the sparse benchmark
// (python/fanns/bench/sparse.py). A module of its own so that fanns._core
// ships only what the library uses; it shares the engine's headers (and runs
// on a thread pool of its own, with the same worker count).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bindings/arrays.h"
#include "sparse/plain_inverted_index.h"

namespace py = pybind11;
using namespace fanns;
using bindings::Array;
using bindings::check_k;
using bindings::csr_view;

PYBIND11_MODULE(_plain_inverted, m) {
    m.doc() = "The plain inverted-index baseline of the sparse benchmark";
    py::class_<sparse::PlainInvertedIndex>(
        m, "PlainInvertedIndex",
        "Unblocked term-at-a-time inverted index with static pruning (a benchmark baseline).")
        .def_static(
            "build",
            [](const Array<std::int64_t>& indptr, const Array<std::uint32_t>& indices, const Array<float>& data,
               std::uint64_t n_cols, std::size_t n_postings, std::size_t threads) {
                const sparse::CsrView rows = csr_view(indptr, indices, data, n_cols);
                py::gil_scoped_release release;
                return sparse::PlainInvertedIndex::build(rows, n_postings, threads);
            },
            py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_terms"), py::arg("n_postings"),
            py::arg("threads"))
        .def(
            "search",
            [](const sparse::PlainInvertedIndex& index, const Array<std::int64_t>& indptr,
               const Array<std::uint32_t>& indices, const Array<float>& data, std::uint64_t n_cols, std::size_t k,
               std::size_t query_cut, std::size_t rerank, std::size_t threads) {
                const sparse::CsrView q = csr_view(indptr, indices, data, n_cols);
                check_k(k);
                py::array_t<std::int64_t> ids({q.n_rows, k});
                py::array_t<float> scores({q.n_rows, k});
                std::int64_t* ids_out = ids.mutable_data();
                float* scores_out = scores.mutable_data();
                {
                    py::gil_scoped_release release;
                    index.search(q, k, query_cut, rerank, threads, ids_out, scores_out);
                }
                return py::make_tuple(ids, scores);
            },
            py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_cols"), py::arg("k"),
            py::arg("query_cut"), py::arg("rerank"), py::arg("threads"))
        .def("memory_bytes", &sparse::PlainInvertedIndex::memory_bytes)
        .def("postings_bytes", &sparse::PlainInvertedIndex::postings_bytes)
        .def_property_readonly("n_postings", &sparse::PlainInvertedIndex::n_postings);
}
