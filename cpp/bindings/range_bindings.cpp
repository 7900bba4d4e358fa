// Bindings for the range graph: build over key-sorted rows, batched search
// with a position range (and optionally a predicate bitset) per query, state
// export/import. Python converts key bounds to positions and validates
// arguments; these checks guard the engine.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/register.h"
#include "range/range_builder.h"
#include "range/range_graph.h"
#include "range/range_search.h"

namespace py = pybind11;

namespace fanns::bindings {
namespace {

using range::RangeGraph;
using FloatMatrix = Array<float>;
using WordArray = Array<std::uint64_t>;
using PositionArray = Array<std::uint64_t>;
using OrderArray = Array<std::uint32_t>;

template <class T>
std::vector<T> section(const py::dict& d, const char* key) {
    return section_copy<T>(d, key, "corrupt range graph");
}

class RangeGraphIndex {
public:
    RangeGraphIndex(std::size_t dim, const std::string& metric, std::size_t M, std::size_t ef_construction,
                    std::size_t leaf_size, bool quantized)
        : graph_(std::make_unique<RangeGraph>(dim, parse_metric(metric),
                                              range::RangeGraphParams{M, ef_construction, leaf_size, quantized})) {}

    // `vectors`: float32 (n, dim) rows, read in place (a row stride of
    // whole floats is fine: an index's rows borrowed from a .fvecs map).
    void build(const py::array& vectors, const OrderArray& order, std::size_t threads, const py::object& store_from) {
        const RowsView view = rows_view(vectors, graph_->dim(), "vectors");
        if (order.ndim() != 1) throw py::value_error("order must be 1-D");
        const float* data = view.data;
        const std::uint32_t* ord = order.data();
        const std::size_t rows = view.n, n = order.shape(0);
        auto fresh = std::make_unique<RangeGraph>(graph_->dim(), graph_->metric(), graph_->params());
        fresh->share_store(shared_store(store_from));
        {
            py::gil_scoped_release release;
            range::RangeGraphBuilder(*fresh).build(data, rows, ord, n, threads, view.stride);
        }
        graph_ = std::move(fresh);
        rows_ = vectors;  // the graph reads these rows from now on
        codes_owner_ = store_from;
    }

    py::tuple search(const FloatMatrix& queries, std::size_t k, const PositionArray& lo, const PositionArray& hi,
                     std::size_t ef, std::size_t threads, const std::vector<WordArray>& bitsets,
                     const py::object& query_filter, std::optional<std::size_t> exact_threshold, std::size_t max_links,
                     std::size_t entry_points) const {
        const std::size_t nq = checked_queries(queries, graph_->dim());
        check_k(k);
        if (lo.ndim() != 1 || hi.ndim() != 1 || std::size_t(lo.shape(0)) != nq || std::size_t(hi.shape(0)) != nq) {
            throw py::value_error("lo and hi must have one position per query");
        }
        if (!bitsets.empty() && query_filter.is_none()) throw py::value_error("bitsets given without query_filter");
        const QueryFilters filters(bitsets, graph_->total_rows(), query_filter, nq);
        std::vector<BitsetView> per_query;
        if (const std::int32_t* f = filters.query_filter()) {
            per_query.resize(nq);
            for (std::size_t i = 0; i < nq; ++i) {
                if (f[i] >= 0) per_query[i] = filters.bitsets()[std::size_t(f[i])];
            }
        }
        range::RangeQueries q;
        q.vectors = queries.data();
        q.nq = nq;
        q.lo = lo.data();
        q.hi = hi.data();
        q.filters = per_query.empty() ? nullptr : per_query.data();
        range::RangeSearchParams params;
        params.k = k;
        params.ef = ef;
        params.threads = threads;
        params.exact_threshold = exact_threshold.value_or(kAutoThreshold);
        params.max_links = max_links;
        params.entry_points = entry_points;
        py::array_t<std::int64_t> ids({nq, k});
        py::array_t<float> dists({nq, k});
        py::array_t<std::int8_t> plans(static_cast<py::ssize_t>(nq));
        range::RangeOutput out{ids.mutable_data(), dists.mutable_data(), plans.mutable_data()};
        {
            py::gil_scoped_release release;
            range::RangeSearcher(*graph_).run(q, params, out);
        }
        return py::make_tuple(ids, dists, plans);
    }

    // The plan search picks for a range of `width` rows of which `passing`
    // pass a predicate (none: no predicate), and the threshold it applies.
    std::string plan_for(std::size_t width, std::optional<double> passing, std::size_t ef, std::size_t k,
                         std::optional<std::size_t> exact_threshold) const {
        PlannerParams p;
        p.exact_threshold = exact_threshold.value_or(kAutoThreshold);
        const RangePlanInput in = range::range_plan_input(*graph_, width, passing.has_value(),
                                                          passing.value_or(double(width)), ef, k);
        return plan_name(choose_range_plan(in, p));
    }

    std::size_t scan_threshold(std::size_t ef, std::size_t k, std::optional<std::size_t> exact_threshold) const {
        PlannerParams p;
        p.exact_threshold = exact_threshold.value_or(kAutoThreshold);
        return range_scan_threshold(std::max(ef, k), range::range_plan_input(*graph_, 0, false, 0, ef, k).rows, p);
    }

    py::dict state() const {
        RangeGraph::State s = graph_->state();
        const auto n = static_cast<py::ssize_t>(graph_->size());
        const auto depths = static_cast<py::ssize_t>(graph_->layout().depths());
        py::dict d;
        d["order"] = to_numpy(s.order, {n});
        d["links"] = to_numpy(s.links, {n, depths, static_cast<py::ssize_t>(graph_->slot_size())});
        d["entries"] = to_numpy(s.entries, {static_cast<py::ssize_t>(s.entries.size())});
        d["total_rows"] = s.total_rows;
        return d;
    }

    // `vectors`: the rows the graph was built over (total_rows x dim).
    // `borrow_links`: read the links in place (a C-contiguous uint32 array,
    // kept alive here; a memory-mapped file's section) instead of copying
    // them. `check_links` false: trust them (see RangeGraph::restore).
    void restore(const py::dict& d, const py::array& vectors, const py::object& store_from, bool borrow_links,
                 bool check_links) {
        RangeGraph::State s;
        s.order = section<std::uint32_t>(d, "order");
        s.entries = section<std::uint32_t>(d, "entries");
        py::object links_owner = py::none();
        const std::uint32_t* borrowed = nullptr;
        std::size_t borrowed_size = 0;
        if (borrow_links) {
            if (!d.contains("links")) throw py::value_error("corrupt range graph: missing links");
            const py::array links = py::reinterpret_borrow<py::array>(d["links"]);
            if (!py::isinstance<py::array_t<std::uint32_t>>(links) || !(links.flags() & py::array::c_style)) {
                throw py::value_error("corrupt range graph: links must be a C-contiguous uint32 array");
            }
            borrowed = static_cast<const std::uint32_t*>(links.data());
            borrowed_size = static_cast<std::size_t>(links.size());
            links_owner = links;
        } else {
            s.links = section<std::uint32_t>(d, "links");
        }
        if (!d.contains("total_rows")) throw py::value_error("corrupt range graph: missing total_rows");
        s.total_rows = d["total_rows"].cast<std::size_t>();
        const RowsView view = rows_view(vectors, graph_->dim(), "range graph vectors", true);
        if (view.n != s.total_rows) {
            throw py::value_error("corrupt range graph: vectors must have shape (total_rows, dim)");
        }
        const float* rows = view.data;
        auto fresh = std::make_unique<RangeGraph>(graph_->dim(), graph_->metric(), graph_->params());
        fresh->share_store(shared_store(store_from));
        {
            py::gil_scoped_release release;
            fresh->restore(std::move(s), rows, view.stride, borrowed, borrowed_size, check_links);
        }
        graph_ = std::move(fresh);
        rows_ = vectors;
        codes_owner_ = store_from;
        links_owner_ = links_owner;
    }

    py::array_t<std::uint32_t> neighbours(std::size_t position, std::size_t depth) const {
        if (position >= graph_->size() || depth >= graph_->layout().depths()) {
            throw py::index_error("no such position or depth");
        }
        const std::uint32_t* sl = graph_->slot(position, depth);
        // At most M: links read in place unchecked may hold any count.
        const std::uint32_t count = std::min<std::uint32_t>(sl[0], std::uint32_t(graph_->params().M));
        return to_numpy(std::vector<std::uint32_t>(sl + 1, sl + 1 + count), {static_cast<py::ssize_t>(count)});
    }

    py::array_t<std::uint32_t> order() const {
        return to_numpy(std::vector<std::uint32_t>(graph_->order(), graph_->order() + graph_->size()),
                        {static_cast<py::ssize_t>(graph_->size())});
    }

    // The float rows the graph reads (total_rows x dim, read in place: a
    // view of the caller's array, with its row stride).
    py::array_t<float> vectors(py::object self) const {
        const auto stride = static_cast<py::ssize_t>(graph_->row_stride() * sizeof(float));
        return read_only_view<float>(graph_->rows(),
                                     {static_cast<py::ssize_t>(graph_->total_rows()), static_cast<py::ssize_t>(graph_->dim())},
                                     self, {stride, py::ssize_t(sizeof(float))});
    }

    std::size_t size() const { return graph_->size(); }
    std::size_t total_rows() const { return graph_->total_rows(); }
    std::size_t dim() const { return graph_->dim(); }
    std::size_t depths() const { return graph_->layout().depths(); }
    std::size_t memory_bytes() const { return graph_->memory_bytes(); }
    // Links read in place (restore with borrow_links), not in memory_bytes().
    std::size_t borrowed_bytes() const { return graph_->borrowed_bytes(); }
    std::size_t code_bytes() const { return graph_->own_code_bytes(); }
    bool quantized() const { return graph_->encoding() != range::RangeEncoding::floats; }
    // Bytes a traversal or a scan reads per row (the encoding's, or 4 * dim).
    double scanned_row_bytes() const { return graph_->scanned_row_bytes(); }
    bool shares_store() const { return graph_->shares_store(); }
    std::string encoding() const {
        switch (graph_->encoding()) {
            case range::RangeEncoding::codes: return "sq8";
            case range::RangeEncoding::halves: return "f16";
            case range::RangeEncoding::floats: break;
        }
        return "f32";
    }

private:
    // The row store of `owner` (an index over the same rows, or None).
    static const RowStore* shared_store(const py::object& owner) {
        if (owner.is_none()) return nullptr;
        const py::object handle = owner.attr("store_handle")();
        const auto capsule = py::reinterpret_borrow<py::capsule>(handle);
        if (std::string(capsule.name()) != kStoreCapsule) throw py::type_error("not an index's row store");
        return static_cast<const RowStore*>(capsule.get_pointer());
    }

    std::unique_ptr<RangeGraph> graph_;
    py::array rows_;           // keeps the rows the graph reads alive
    py::object codes_owner_;   // keeps the index whose row store the graph reads alive
    py::object links_owner_;   // keeps links read in place alive
};

}  // namespace

void register_range(py::module_& m) {
    py::class_<RangeGraphIndex>(m, "RangeGraphIndex")
        .def(py::init<std::size_t, const std::string&, std::size_t, std::size_t, std::size_t, bool>(),
             py::arg("dim"), py::arg("metric"), py::arg("M"), py::arg("ef_construction"), py::arg("leaf_size"),
             py::arg("quantized"))
        .def("build", &RangeGraphIndex::build, py::arg("vectors"), py::arg("order"), py::arg("threads"),
             py::arg("store_from") = py::none())
        .def("search", &RangeGraphIndex::search, py::arg("queries"), py::arg("k"), py::arg("lo"), py::arg("hi"),
             py::arg("ef"), py::arg("threads"), py::arg("bitsets"), py::arg("query_filter"),
             py::arg("exact_threshold"), py::arg("max_links"), py::arg("entry_points"))
        .def("state", &RangeGraphIndex::state)
        .def("restore", &RangeGraphIndex::restore, py::arg("state"), py::arg("vectors"),
             py::arg("store_from") = py::none(), py::arg("borrow_links") = false, py::arg("check_links") = true)
        .def("order", &RangeGraphIndex::order)
        .def("vectors", [](py::object self) { return self.cast<const RangeGraphIndex&>().vectors(self); })
        .def("neighbours", &RangeGraphIndex::neighbours, py::arg("position"), py::arg("depth"))
        .def_property_readonly("size", &RangeGraphIndex::size)
        .def_property_readonly("total_rows", &RangeGraphIndex::total_rows)
        .def_property_readonly("dim", &RangeGraphIndex::dim)
        .def_property_readonly("depths", &RangeGraphIndex::depths)
        .def("memory_bytes", &RangeGraphIndex::memory_bytes)
        .def("borrowed_bytes", &RangeGraphIndex::borrowed_bytes)
        .def("plan_for", &RangeGraphIndex::plan_for, py::arg("width"), py::arg("passing"), py::arg("ef"), py::arg("k"),
             py::arg("exact_threshold"))
        .def("scan_threshold", &RangeGraphIndex::scan_threshold, py::arg("ef"), py::arg("k"),
             py::arg("exact_threshold"))
        .def("code_bytes", &RangeGraphIndex::code_bytes)
        .def_property_readonly("quantized", &RangeGraphIndex::quantized)
        .def_property_readonly("scanned_row_bytes", &RangeGraphIndex::scanned_row_bytes)
        .def_property_readonly("shares_store", &RangeGraphIndex::shares_store)
        .def_property_readonly("encoding", &RangeGraphIndex::encoding);
}

}  // namespace fanns::bindings
