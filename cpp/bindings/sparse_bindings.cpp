// Bindings for the sparse engine: the blocked inverted index (SparseIndex)
// and the f16 codec (the benchmarks' plain inverted-index baseline is a
// module of its own, cpp/bench/plain_inverted_module.cpp). Python validates
// and converts input; every call that does work releases the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/register.h"
#include "sparse/half.h"
#include "sparse/sparse_index.h"

namespace py = pybind11;

namespace fanns::bindings {
namespace {

using sparse::CsrView;

template <class T>
std::vector<T> to_vector(const py::dict& arrays, const char* name) {
    return section_copy<T>(arrays, name, "corrupt sparse index", /*one_d=*/true);
}

sparse::SearchParams search_params(std::size_t k, std::size_t query_cut, float heap_factor, bool use_knn, int plan,
                                   std::size_t rerank, int completion) {
    check_k(k);
    sparse::SearchParams params;
    params.k = k;
    params.query_cut = query_cut;
    params.heap_factor = heap_factor;
    params.use_knn = use_knn;
    if (plan < 0 || plan > 2) throw py::value_error("plan must be 0 (automatic), 1 (blocks) or 2 (accumulate)");
    params.plan = static_cast<sparse::QueryPlan>(plan);
    params.rerank = rerank;
    if (completion < 0 || completion > 2) throw py::value_error("completion must be 0, 1 or 2");
    params.completion = static_cast<std::uint8_t>(completion);
    return params;
}

// The plan each query would start with (SparseIndex::explain); passing[q] is
// -1 for a query without a filter.
py::array_t<std::uint8_t> sparse_explain(const sparse::SparseIndex& index, const Array<std::int64_t>& indptr,
                                         const Array<std::uint32_t>& indices, const Array<float>& data,
                                         std::uint64_t n_cols, std::size_t k, std::size_t query_cut, float heap_factor,
                                         const Array<std::int64_t>& passing, std::optional<std::size_t> exact_threshold,
                                         int plan, std::size_t rerank) {
    const CsrView q = csr_view(indptr, indices, data, n_cols);
    const sparse::SearchParams params = search_params(k, query_cut, heap_factor, true, plan, rerank, 0);
    if (passing.ndim() != 1 || static_cast<std::size_t>(passing.shape(0)) != q.n_rows) {
        throw py::value_error("one passing count per query expected");
    }
    py::array_t<std::uint8_t> plans(static_cast<py::ssize_t>(q.n_rows));
    std::uint8_t* out = plans.mutable_data();
    const std::int64_t* counts = passing.data();
    {
        py::gil_scoped_release release;
        index.explain(q, params, counts, exact_threshold.value_or(kAutoThreshold), out);
    }
    return plans;
}

py::tuple sparse_search(const sparse::SparseIndex& index, const Array<std::int64_t>& indptr,
                        const Array<std::uint32_t>& indices, const Array<float>& data, std::uint64_t n_cols,
                        std::size_t k, std::size_t query_cut, float heap_factor, bool use_knn,
                        const std::vector<Array<std::uint64_t>>& bitsets, const std::vector<std::size_t>& counts,
                        const py::object& query_filter, std::optional<std::size_t> exact_threshold, std::size_t threads,
                        int plan, std::size_t rerank, int completion, std::size_t accumulator_window) {
    const CsrView q = csr_view(indptr, indices, data, n_cols);
    sparse::SearchParams params = search_params(k, query_cut, heap_factor, use_knn, plan, rerank, completion);
    params.accumulator_window = accumulator_window;
    const QueryFilters checked(bitsets, counts, index.n_docs(), query_filter, q.n_rows);
    sparse::QueryFilters filters;
    filters.bitsets = checked.bitsets();
    filters.counts = counts;
    filters.query_filter = checked.query_filter();
    py::array_t<std::int64_t> ids({q.n_rows, k});
    py::array_t<float> scores({q.n_rows, k});
    py::array_t<std::uint8_t> plans(static_cast<py::ssize_t>(q.n_rows));
    py::array_t<std::uint32_t> scored(static_cast<py::ssize_t>(q.n_rows));
    std::int64_t* ids_out = ids.mutable_data();
    float* scores_out = scores.mutable_data();
    std::uint8_t* plans_out = plans.mutable_data();
    std::uint32_t* scored_out = scored.mutable_data();
    {
        py::gil_scoped_release release;
        index.search(q, params, filters, exact_threshold.value_or(kAutoThreshold), threads, ids_out, scores_out, plans_out,
                     scored_out);
    }
    return py::make_tuple(ids, scores, plans, scored);
}

py::dict export_arrays(const sparse::SparseIndex& index) {
    sparse::SparseIndexArrays a;
    {
        py::gil_scoped_release release;
        a = index.to_arrays();
    }
    py::dict d;
    d["term_map"] = to_numpy(a.term_map);
    d["forward_offsets"] = to_numpy(a.forward_offsets);
    d["forward_terms"] = to_numpy(a.forward_terms);
    // f16 bits or f32 weights, as the index stores them.
    if (a.forward_format == sparse::WeightFormat::f32) d["forward_values"] = to_numpy(a.forward_weights);
    else d["forward_values"] = to_numpy(a.forward_values);
    d["list_offsets"] = to_numpy(a.list_offsets);
    d["block_offsets"] = to_numpy(a.block_offsets);
    d["block_docs"] = to_numpy(a.block_docs);
    d["block_codes"] = to_numpy(a.block_codes);
    d["list_max"] = to_numpy(a.list_max);
    d["summary_vocabulary"] = to_numpy(a.summary_vocabulary);
    d["summary_offsets"] = to_numpy(a.summary_offsets);
    d["summary_entry_term"] = to_numpy(a.summary_entry_term);
    d["summary_entry_code"] = to_numpy(a.summary_entry_code);
    d["summary_list_code"] = to_numpy(a.summary_list_code);
    d["summary_steps"] = to_numpy(a.summary_steps);
    d["knn_neighbours"] = to_numpy(a.knn_neighbours);
    return d;
}

std::unique_ptr<sparse::SparseIndex> import_arrays(const py::dict& d, std::uint64_t n_terms, std::size_t n_docs,
                                                   std::size_t knn_degree, bool f32_weights) {
    sparse::SparseIndexArrays a;
    a.n_terms = n_terms;
    a.n_docs = n_docs;
    a.knn_degree = knn_degree;
    a.term_map = to_vector<std::uint32_t>(d, "term_map");
    a.forward_offsets = to_vector<std::uint64_t>(d, "forward_offsets");
    a.forward_terms = to_vector<std::uint32_t>(d, "forward_terms");
    if (f32_weights) {
        a.forward_format = sparse::WeightFormat::f32;
        a.forward_weights = to_vector<float>(d, "forward_values");
    } else {
        a.forward_values = to_vector<std::uint16_t>(d, "forward_values");
    }
    a.list_offsets = to_vector<std::uint64_t>(d, "list_offsets");
    a.block_offsets = to_vector<std::uint64_t>(d, "block_offsets");
    a.block_docs = to_vector<std::uint32_t>(d, "block_docs");
    a.block_codes = to_vector<std::uint8_t>(d, "block_codes");
    a.list_max = to_vector<float>(d, "list_max");
    a.summary_vocabulary = to_vector<std::uint32_t>(d, "summary_vocabulary");
    a.summary_offsets = to_vector<std::uint64_t>(d, "summary_offsets");
    a.summary_entry_term = to_vector<std::uint16_t>(d, "summary_entry_term");
    a.summary_entry_code = to_vector<std::uint8_t>(d, "summary_entry_code");
    a.summary_list_code = to_vector<std::uint8_t>(d, "summary_list_code");
    a.summary_steps = to_vector<float>(d, "summary_steps");
    a.knn_neighbours = to_vector<std::uint32_t>(d, "knn_neighbours");
    py::gil_scoped_release release;
    return sparse::SparseIndex::from_arrays(std::move(a));
}

}  // namespace

void register_sparse(py::module_& m) {
    py::class_<sparse::SparseIndex>(m, "SparseIndex",
                                    "Blocked inverted index over sparse vectors (use fanns.SparseIndex).")
        .def_static(
            "build",
            [](const Array<std::int64_t>& indptr, const Array<std::uint32_t>& indices, const Array<float>& data,
               std::uint64_t n_cols, std::size_t n_postings, std::size_t block_size, float summary_energy,
               std::size_t knn, std::uint64_t seed, std::size_t knn_query_cut, float knn_heap_factor,
               std::size_t threads, std::size_t summary_cap, bool f32_weights) {
                const CsrView rows = csr_view(indptr, indices, data, n_cols);
                sparse::BuildParams params;
                params.n_postings = n_postings;
                params.block_size = block_size;
                params.summary_energy = summary_energy;
                params.summary_cap = summary_cap;
                params.knn = knn;
                params.seed = seed;
                params.knn_query_cut = knn_query_cut;
                params.knn_heap_factor = knn_heap_factor;
                params.weights = f32_weights ? sparse::WeightFormat::f32 : sparse::WeightFormat::f16;
                py::gil_scoped_release release;
                return sparse::SparseIndex::build(rows, params, threads);
            },
            py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_terms"), py::arg("n_postings"),
            py::arg("block_size"), py::arg("summary_energy"), py::arg("knn"), py::arg("seed"),
            py::arg("knn_query_cut"), py::arg("knn_heap_factor"), py::arg("threads"), py::arg("summary_cap"),
            py::arg("f32_weights") = true)
        .def_static("from_arrays", &import_arrays, py::arg("arrays"), py::arg("n_terms"), py::arg("n_docs"),
                    py::arg("knn_degree"), py::arg("f32_weights") = false)
        .def("to_arrays", &export_arrays)
        .def("search", &sparse_search, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_cols"),
             py::arg("k"), py::arg("query_cut"), py::arg("heap_factor"), py::arg("use_knn"), py::arg("bitsets"),
             py::arg("counts"), py::arg("query_filter"), py::arg("exact_threshold"), py::arg("threads"),
             py::arg("plan") = 0, py::arg("rerank") = 0, py::arg("completion") = 0,
             py::arg("accumulator_window") = 0)
        .def("explain", &sparse_explain, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_cols"),
             py::arg("k"), py::arg("query_cut"), py::arg("heap_factor"), py::arg("passing"),
             py::arg("exact_threshold"), py::arg("plan") = 0, py::arg("rerank") = 0)
        .def_property_readonly("n_terms", &sparse::SparseIndex::n_terms)
        .def_property_readonly("n_docs", &sparse::SparseIndex::n_docs)
        .def_property_readonly("n_used_terms", &sparse::SparseIndex::n_used_terms)
        .def_property_readonly("n_postings", &sparse::SparseIndex::n_postings)
        .def_property_readonly("n_blocks", &sparse::SparseIndex::n_blocks)
        .def_property_readonly("n_summary_entries", &sparse::SparseIndex::n_summary_entries)
        .def_property_readonly("nnz", &sparse::SparseIndex::nnz)
        .def_property_readonly("knn_degree", &sparse::SparseIndex::knn_degree)
        .def_property_readonly(
            "f32_weights",
            [](const sparse::SparseIndex& index) { return index.forward().format() == sparse::WeightFormat::f32; })
        .def("memory_parts", [](const sparse::SparseIndex& index) {
            py::dict d;
            d["forward"] = index.forward_bytes();
            d["postings"] = index.postings_bytes();
            d["summaries"] = index.summaries_bytes();
            d["knn"] = index.knn_bytes();
            d["filter_tails"] = index.tails_bytes();
            return d;
        });

    m.def(
        "sparse_accumulator_paths",
        [] {
            py::dict d;
            d["dense"] = sparse::accumulator_path_counts[0].load(std::memory_order_relaxed);
            d["windowed"] = sparse::accumulator_path_counts[1].load(std::memory_order_relaxed);
            return d;
        },
        "Queries of the sparse accumulate plan accumulated by each path since the process started "
        "(one n-sized accumulator, or document-id windows): for tests.");
    m.def(
        "float_to_half",
        [](const Array<float>& values) {
            py::array_t<std::uint16_t> out(values.size());
            const float* in = values.data();
            std::uint16_t* o = out.mutable_data();
            for (py::ssize_t i = 0; i < values.size(); ++i) o[i] = sparse::float_to_half(in[i]);
            return out;
        },
        "f16 bit patterns of float32 values (round to nearest even), as the sparse forward index stores them.");
    m.def(
        "half_to_float",
        [](const Array<std::uint16_t>& bits) {
            py::array_t<float> out(bits.size());
            const std::uint16_t* in = bits.data();
            float* o = out.mutable_data();
            for (py::ssize_t i = 0; i < bits.size(); ++i) o[i] = sparse::half_to_float(in[i]);
            return out;
        },
        "float32 values of f16 bit patterns, as the sparse forward index decodes them.");
}

}  // namespace fanns::bindings
