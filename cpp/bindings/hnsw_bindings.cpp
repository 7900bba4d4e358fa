// Bindings for the HNSW index: build, batched (filtered) search, state
// export/import. Python validates arguments; these checks guard the engine.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/register.h"
#include "hnsw.h"
#include "hnsw_restore.h"
#include "validate.h"
#include "search.h"

namespace py = pybind11;

namespace fanns::bindings {
namespace {

using FloatMatrix = Array<float>;
using WordArray = Array<std::uint64_t>;

// Checks an array's dtype, C-contiguity and shape (-1: any length) and
// returns its element count; `what` names it in the error.
template <class T>
std::size_t checked_vector(const py::array& a, const char* what, std::vector<py::ssize_t> shape) {
    bool ok = py::isinstance<py::array_t<T>>(a) && (a.flags() & py::array::c_style) &&
              a.ndim() == py::ssize_t(shape.size());
    for (std::size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || a.shape(i) == shape[i];
    if (!ok) throw py::value_error(std::string("corrupt index: ") + what);
    return std::size_t(a.size());
}

std::vector<float> float_vector(const py::array& a, const char* what, py::ssize_t length) {
    checked_vector<float>(a, what, {length});
    const float* data = static_cast<const float*>(a.data());
    return std::vector<float>(data, data + length);
}

PlannerParams planner_params(const py::dict& d) {
    PlannerParams p;
    for (auto item : d) {
        const auto key = item.first.cast<std::string>();
        if (key == "exact_threshold") {
            if (!item.second.is_none()) p.exact_threshold = item.second.cast<std::size_t>();
        }
        else if (key == "two_hop_selectivity") p.two_hop_selectivity = item.second.cast<double>();
        else if (key == "switch_pass_rate") p.switch_pass_rate = item.second.cast<double>();
        else if (key == "budget_factor") p.budget_factor = item.second.cast<double>();
        else if (key == "max_collect") p.max_collect = item.second.cast<std::size_t>();
        else if (key == "min_two_hop_degree") p.min_two_hop_degree = item.second.cast<double>();
        else if (key == "group_scans") {
            if (!py::isinstance<py::bool_>(item.second)) throw py::type_error("group_scans must be True or False");
            p.group_scans = item.second.cast<bool>();
        }
        else throw py::key_error("unknown planner parameter '" + key + "'");
    }
    check_planner(p, Hnsw::kMaxSlot);
    return p;
}

class HnswIndex {
public:
    HnswIndex(std::size_t dim, const std::string& metric, std::size_t M, std::size_t M0,
              std::size_t ef_construction, std::uint64_t seed, std::size_t m_beta, const std::string& storage,
              bool build_on_codes)
        : graph_(std::make_unique<Hnsw>(dim, parse_metric(metric),
                                        HnswParams{M, M0, ef_construction, seed, m_beta, parse_storage(storage),
                                                   build_on_codes})) {}
    explicit HnswIndex(std::unique_ptr<Hnsw> graph) : graph_(std::move(graph)) {}

    // `vectors`: float32 (n, dim) with unit column stride and any row stride
    // (a memory-mapped .fvecs view is (dim + 1) floats per row). With
    // `borrow` the graph reads the rows in place and keeps `vectors` alive;
    // the caller must not change them. Otherwise they are copied.
    // Returns false when cancel() stopped it (the index stays empty). Runs
    // with the GIL released: another Python thread may call progress() and
    // cancel() meanwhile.
    bool build(const py::array& vectors, std::size_t threads, bool borrow) {
        refuse_if_store_shared();
        const RowsView rows = rows_view(vectors, graph_->dim(), "vectors");
        bool completed;
        {
            py::gil_scoped_release release;
            completed = graph_->build(rows.data, rows.n, threads, rows.stride, borrow, &control_);
        }
        if (completed && borrow) keep_ = vectors;
        return completed;
    }

    // Rows appended and inserted into the graph (see Hnsw::extend). Only on
    // an engine no search reads: a copy().
    void extend(const FloatMatrix& vectors, std::size_t threads) {
        if (vectors.ndim() != 2 || std::size_t(vectors.shape(1)) != graph_->dim()) {
            throw py::value_error("vectors must have shape (n, dim)");
        }
        refuse_if_store_shared();
        const float* data = vectors.data();
        const std::size_t n = vectors.shape(0);
        {
            py::gil_scoped_release release;
            graph_->extend(data, n, threads);
        }
        // Grown, the graph owns its rows, lists and codes: let go of the
        // memory it used to read in place.
        if (graph_->borrowed_bytes() == 0) keep_ = py::none();
    }

    // A deep copy (graph, owned rows and codes) that can be extended while
    // searches read this one. Rows and codes this index reads in place stay
    // so in the copy, which keeps their owner alive too (extending it makes
    // them its own).
    std::unique_ptr<HnswIndex> copy() const {
        std::unique_ptr<Hnsw> graph;
        {
            py::gil_scoped_release release;
            graph = std::make_unique<Hnsw>(*graph_);
        }
        auto out = std::make_unique<HnswIndex>(std::move(graph));
        out->keep_ = keep_;
        return out;
    }
    // Rows inserted so far by a running build.
    std::size_t progress() const { return control_.done.load(); }
    // Stops a running (or the next) build.
    void cancel() { control_.cancel.store(true); }

    py::tuple search(const FloatMatrix& queries, std::size_t k, std::size_t ef, std::size_t threads,
                     const std::vector<WordArray>& bitsets, const std::vector<std::size_t>& counts,
                     const py::object& query_filter, const py::dict& planner) const {
        const std::size_t nq = checked_queries(queries, graph_->dim());
        check_k(k);
        const QueryFilters filters(bitsets, counts, graph_->size(), query_filter, nq);
        BatchRequest req;
        req.queries = queries.data();
        req.nq = nq;
        req.k = k;
        req.ef = ef;
        req.threads = threads;
        req.planner = planner_params(planner);
        for (std::size_t i = 0; i < counts.size(); ++i) req.filters.push_back({filters.bitsets()[i], counts[i]});
        req.query_filter = filters.query_filter();
        py::array_t<std::int64_t> ids({nq, k});
        py::array_t<float> dists({nq, k});
        py::array_t<std::int8_t> plans(static_cast<py::ssize_t>(nq));
        BatchOutput out{ids.mutable_data(), dists.mutable_data(), plans.mutable_data()};
        {
            py::gil_scoped_release release;
            HnswSearcher(*graph_).run(req, out);
        }
        return py::make_tuple(ids, dists, plans);
    }

    // `sharing`: queries of one search call with this filter.
    std::string plan_for(std::size_t passing, bool filtered, std::size_t ef, std::size_t k,
                         const py::dict& planner, std::size_t sharing) const {
        return plan_name(
            choose_plan(plan_input(*graph_, passing, filtered, ef, k, sharing), planner_params(planner)));
    }

    // Most passing rows a filter may have to be scanned rather than traversed.
    std::size_t scan_threshold(std::size_t ef, std::size_t k, const py::dict& planner, std::size_t sharing) const {
        return fanns::scan_threshold(plan_input(*graph_, 0, true, ef, k, sharing), planner_params(planner));
    }

    // Per filter holding a range on the range graph's attribute: whether the
    // range graph answers it (route_to_range in planner.h). `widths`: rows in
    // each range; `predicate`: other conjuncts remain; `passing`: rows
    // passing the whole filter (ignored without a predicate);
    // `range_row_bytes`: what the range graph reads per row (4 * dim: float
    // rows), `range_degree`: its M, `range_gathers`: it reads the store's
    // rows through its key order.
    py::array_t<bool> routes_to_range(std::size_t n, const Array<std::uint64_t>& widths,
                                      const Array<bool>& predicate, const Array<std::uint64_t>& passing,
                                      std::size_t ef, std::size_t k, const py::dict& planner,
                                      double range_row_bytes, std::size_t range_degree,
                                      bool range_gathers) const {
        const py::ssize_t count = widths.size();
        if (widths.ndim() != 1 || predicate.ndim() != 1 || passing.ndim() != 1 || predicate.size() != count ||
            passing.size() != count) {
            throw py::value_error("widths, predicate and passing must be 1-D arrays of one length");
        }
        const std::size_t dim = graph_->dim();
        // The range graph reads 8-bit codes (dim rounded up to 4, plus a
        // float), f16 rows or float rows: nothing outside those bounds.
        const double most = 4.0 * double(std::max<std::size_t>(dim, 1));
        const double fewest = std::min(double((dim + 3) / 4 * 4 + 4), 2.0 * double(std::max<std::size_t>(dim, 1)));
        if (!(range_row_bytes >= fewest && range_row_bytes <= std::max(most, fewest)) || range_degree == 0 ||
            range_degree > 4096) {
            throw py::value_error("range_row_bytes must lie between a code row's and a float row's bytes, "
                                  "range_degree in [1, 4096]");
        }
        for (py::ssize_t i = 0; i < count; ++i) {
            const std::uint64_t width = widths.data()[i];
            if (width > n || (predicate.data()[i] && passing.data()[i] > width)) {
                throw py::value_error("a range holds at most n rows, and at most its width pass");
            }
        }
        const RowBytes range_rows = range_row_bytes >= 4.0 * double(dim) ? RowBytes::of(dim, false)
                                                                         : RowBytes::encoded(dim, range_row_bytes);
        const PlannerParams params = planner_params(planner);
        const PlanInput main = plan_input(*graph_, 0, true, ef, k);
        py::array_t<bool> out(count);
        bool* routed = out.mutable_data();
        for (py::ssize_t i = 0; i < count; ++i) {
            const bool rest = predicate.data()[i];
            const std::size_t width = widths.data()[i];
            const RangeRouteInput in{n, width, rest, rest ? std::size_t(passing.data()[i]) : width, range_rows,
                                     range_degree, range_gathers};
            routed[i] = route_to_range(in, main, params);
        }
        return out;
    }

    // The engine's arrays as read-only numpy views of its own memory (no
    // copies; each keeps the index alive), for writing them to a file; the
    // flattened upper lists and the code bounds are small copies.
    py::dict sections(py::object self) const {
        const auto n = static_cast<py::ssize_t>(graph_->size());
        const auto& p = graph_->params();
        py::dict d;
        d["vectors"] = vectors_view(self);
        d["links0"] = read_only_view<std::uint32_t>(graph_->links0(), {n, static_cast<py::ssize_t>(p.M0 + 1)}, self);
        d["levels"] = read_only_view<std::uint8_t>(graph_->levels().data(), {n}, self);
        std::vector<std::uint64_t> offsets;
        std::vector<std::uint32_t> links;
        graph_->upper_state(offsets, links);
        d["upper_offsets"] = to_numpy(offsets, {n + 1});
        d["upper_links"] = to_numpy(links, {static_cast<py::ssize_t>(links.size())});
        d["entry"] = graph_->entry_point();
        d["max_level"] = graph_->max_level();
        const RowStore& store = graph_->store();
        if (store.coded()) {
            const QuantizedRows& codes = store.codes();
            const auto dim = static_cast<py::ssize_t>(graph_->dim());
            d["codes"] = read_only_view<std::uint8_t>(codes.data(), {n, static_cast<py::ssize_t>(codes.stride())}, self);
            const QuantizedRows::Bounds b = codes.bounds();
            d["code_low"] = to_numpy(b.low, {dim});
            d["code_step"] = to_numpy(b.step, {dim});
            d["code_centre"] = to_numpy(b.centre, {dim});
            d["code_similarity"] = b.similarity;
        }
        if (store.halved()) {
            const HalfRows& halves = store.halves();
            py::array out(py::dtype("float16"), {n, static_cast<py::ssize_t>(graph_->dim())}, {},
                          halves.data(), self);
            py::detail::array_proxy(out.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
            d["f16"] = out;
            d["f16_exponent"] = halves.exponent();
        }
        return d;
    }

    // Copies of the sections (plain arrays for tests and tools).
    py::dict state(py::object self) const {
        py::dict d;
        for (auto item : sections(self)) {
            py::object value = py::reinterpret_borrow<py::object>(item.second);
            if (py::isinstance<py::array>(value)) value = py::module_::import("numpy").attr("array")(value);
            d[item.first] = value;
        }
        return d;
    }

    // Reads back what sections() gave. With `borrow` the rows, level-0 lists
    // and codes are read in place (the arrays of `d`, e.g. views of a
    // read-only memory map, are kept alive); `check`: see
    // Hnsw::StateView::check_payload. Returns false when cancel() stopped it
    // (the index stays empty); progress() counts rows checked meanwhile (see
    // Hnsw::restore). Runs with the GIL released, as build() does.
    bool restore(const py::dict& d, bool borrow, bool check) {
        const auto& p = graph_->params();
        auto get = [&](const char* key) -> py::array {
            if (!d.contains(key)) throw py::value_error(std::string("corrupt index: missing section ") + key);
            py::object value = d[key];
            if (!py::isinstance<py::array>(value)) throw py::value_error(std::string("corrupt index: bad section ") + key);
            return value.cast<py::array>();
        };
        Hnsw::StateView s;
        const py::array levels = get("levels");
        s.n = checked_vector<std::uint8_t>(levels, "levels", {-1});
        const auto n = static_cast<py::ssize_t>(s.n);
        const RowsView rows = rows_view(get("vectors"), graph_->dim(), "stored vectors", true);
        if (rows.n != s.n) throw py::value_error("corrupt index: vector block size");
        s.rows = rows.data;
        s.row_stride = rows.stride;
        const py::array links0 = get("links0");
        checked_vector<std::uint32_t>(links0, "level-0 link block size", {n, static_cast<py::ssize_t>(p.M0 + 1)});
        s.links0 = static_cast<const std::uint32_t*>(links0.data());
        s.levels = static_cast<const std::uint8_t*>(levels.data());
        const py::array offsets = get("upper_offsets");
        checked_vector<std::uint64_t>(offsets, "upper link offsets", {n + 1});
        s.upper_offsets = static_cast<const std::uint64_t*>(offsets.data());
        const py::array upper = get("upper_links");
        const std::size_t n_upper = checked_vector<std::uint32_t>(upper, "upper link block size", {-1});
        if (s.upper_offsets[s.n] != n_upper) throw py::value_error("corrupt index: upper link block size");
        s.upper_links = static_cast<const std::uint32_t*>(upper.data());
        s.entry = d["entry"].cast<std::uint32_t>();
        s.max_level = d["max_level"].cast<int>();
        py::array codes;
        if (d.contains("codes")) {
            const auto dim = static_cast<py::ssize_t>(graph_->dim());
            codes = get("codes");
            checked_vector<std::uint8_t>(codes, "code block size",
                                         {n, static_cast<py::ssize_t>(QuantizedRows::stride_for(graph_->dim()))});
            s.codes = static_cast<const std::uint8_t*>(codes.data());
            s.code_bounds.low = float_vector(get("code_low"), "code bounds size", dim);
            s.code_bounds.step = float_vector(get("code_step"), "code bounds size", dim);
            s.code_bounds.centre = float_vector(get("code_centre"), "code bounds size", dim);
            s.code_bounds.similarity = d["code_similarity"].cast<bool>();
        }
        py::array halves;
        if (d.contains("f16")) {
            halves = get("f16");
            const bool ok = halves.dtype().kind() == 'f' && halves.dtype().itemsize() == 2 &&
                            halves.dtype().attr("isnative").cast<bool>() && halves.attr("flags").attr("aligned").cast<bool>() &&
                            (halves.flags() & py::array::c_style) &&
                            halves.ndim() == 2 && halves.shape(0) == n &&
                            std::size_t(halves.shape(1)) == graph_->dim();
            if (!ok) throw py::value_error("corrupt index: f16 block size");
            if (!d.contains("f16_exponent")) throw py::value_error("corrupt index: missing f16 scale");
            s.halves = static_cast<const std::uint16_t*>(halves.data());
            // Range-checked as a Python int first: a huge one would not cast.
            const py::object exponent = d["f16_exponent"];
            if (!py::isinstance<py::int_>(exponent) || py::isinstance<py::bool_>(exponent) ||
                exponent.attr("__abs__")().cast<py::int_>().attr("__gt__")(1 << 20).cast<bool>()) {
                throw py::value_error("corrupt index: f16 scale");
            }
            s.half_exponent = exponent.cast<int>();
        }
        s.borrow = borrow;
        s.check_payload = check;
        control_.done.store(0);
        bool completed;
        {
            py::gil_scoped_release release;
            completed = graph_->restore(s, &control_);
        }
        if (completed && borrow) keep_ = d;
        return completed;
    }

    std::size_t size() const { return graph_->size(); }
    std::size_t dim() const { return graph_->dim(); }
    std::size_t memory_bytes() const { return graph_->memory_bytes(); }
    std::size_t borrowed_bytes() const { return graph_->borrowed_bytes(); }
    // Bytes of each part read in place (see memory_parts for the owned ones).
    py::dict borrowed_parts() const {
        py::dict d;
        d["links"] = graph_->borrowed_link_bytes();
        d["codes"] = graph_->store().borrowed_code_bytes();
        d["f16"] = graph_->store().borrowed_half_bytes();
        d["rows"] = graph_->store().borrowed_float_bytes();
        return d;
    }
    py::dict memory_parts() const {
        py::dict d;
        d["links"] = graph_->link_bytes();
        d["codes"] = graph_->store().code_bytes();
        d["f16"] = graph_->store().half_bytes();
        d["rows"] = graph_->store().float_bytes();
        return d;
    }
    std::string storage() const { return storage_name(graph_->params().storage); }
    // The row store, for a range graph over the same rows to read its
    // encoding. The capsule does not keep the index alive: holders keep a
    // reference to the index itself.
    // The row store, for a range graph that reads it in place. From then on
    // the store must not move: build() and extend() refuse (extend a copy()).
    py::object store_handle() const {
        store_shared_ = true;
        return py::capsule(static_cast<const void*>(&graph_->store()), kStoreCapsule);
    }
    bool coded() const { return graph_->store().coded(); }

    // Whether inserting rows (build, extend) searches on codes (hnsw_build.h).
    bool builds_on_codes() const { return graph_->builds_on_codes(); }
    py::array_t<float> vectors_view(py::object self) const {
        const auto n = static_cast<py::ssize_t>(graph_->size());
        const auto d = static_cast<py::ssize_t>(graph_->dim());
        const auto stride = static_cast<py::ssize_t>(graph_->store().row_stride() * sizeof(float));
        return read_only_view<float>(graph_->vectors(), {n, d}, self, {stride, py::ssize_t(sizeof(float))});
    }
    py::array_t<std::uint32_t> neighbours(std::uint32_t id, int level) const {
        if (id >= graph_->size() || level < 0 || level > graph_->level(id)) throw py::index_error("no such node/level");
        std::size_t count;
        const std::uint32_t* nb = graph_->neighbours(id, level, &count);
        return to_numpy(std::vector<std::uint32_t>(nb, nb + count), {static_cast<py::ssize_t>(count)});
    }

private:
    std::unique_ptr<Hnsw> graph_;
    void refuse_if_store_shared() const {
        if (store_shared_) {
            throw py::value_error("this engine's rows are read by a range graph: build or extend a copy() instead");
        }
    }

    py::object keep_;  // what borrowed rows, lists and codes live in
    mutable bool store_shared_ = false;  // store_handle() was given out (a copy starts unshared)
    Hnsw::BuildControl control_;
};

}  // namespace

void register_hnsw(py::module_& m) {
    py::class_<HnswIndex>(m, "HnswIndex")
        .def(py::init<std::size_t, const std::string&, std::size_t, std::size_t, std::size_t, std::uint64_t,
                      std::size_t, const std::string&, bool>(),
             py::arg("dim"), py::arg("metric"), py::arg("M"), py::arg("M0"), py::arg("ef_construction"),
             py::arg("seed"), py::arg("m_beta") = 0, py::arg("storage") = "f32", py::arg("build_on_codes") = true)
        .def("build", &HnswIndex::build, py::arg("vectors"), py::arg("threads"), py::arg("borrow") = false)
        .def("progress", &HnswIndex::progress)
        .def("cancel", &HnswIndex::cancel)
        .def("extend", &HnswIndex::extend, py::arg("vectors"), py::arg("threads"))
        .def("copy", &HnswIndex::copy)
        .def("search", &HnswIndex::search, py::arg("queries"), py::arg("k"), py::arg("ef"), py::arg("threads"),
             py::arg("bitsets"), py::arg("counts"), py::arg("query_filter"), py::arg("planner"))
        .def("plan_for", &HnswIndex::plan_for, py::arg("passing"), py::arg("filtered"), py::arg("ef"),
             py::arg("k"), py::arg("planner"), py::arg("sharing") = 1)
        .def("scan_threshold", &HnswIndex::scan_threshold, py::arg("ef"), py::arg("k"), py::arg("planner"),
             py::arg("sharing") = 1)
        .def("routes_to_range", &HnswIndex::routes_to_range, py::arg("n"), py::arg("widths"), py::arg("predicate"),
             py::arg("passing"), py::arg("ef"), py::arg("k"), py::arg("planner"), py::arg("range_row_bytes"),
             py::arg("range_degree"), py::arg("range_gathers"))
        .def("sections", [](py::object self) { return self.cast<const HnswIndex&>().sections(self); })
        .def("state", [](py::object self) { return self.cast<const HnswIndex&>().state(self); })
        .def("restore", &HnswIndex::restore, py::arg("state"), py::arg("borrow") = false, py::arg("check") = true)
        .def("borrowed_bytes", &HnswIndex::borrowed_bytes)
        .def("borrowed_parts", &HnswIndex::borrowed_parts)
        .def("vectors", [](py::object self) { return self.cast<const HnswIndex&>().vectors_view(self); })
        .def("neighbours", &HnswIndex::neighbours, py::arg("id"), py::arg("level"))
        .def_property_readonly("size", &HnswIndex::size)
        .def_property_readonly("dim", &HnswIndex::dim)
        .def("memory_bytes", &HnswIndex::memory_bytes)
        .def("memory_parts", &HnswIndex::memory_parts)
        .def_property_readonly("storage", &HnswIndex::storage)
        .def_property_readonly("coded", &HnswIndex::coded)
        .def_property_readonly("builds_on_codes", &HnswIndex::builds_on_codes)
        .def("store_handle", &HnswIndex::store_handle);
    py::list names;
    for (int p = 0; p < kPlanCount; ++p) names.append(plan_name(static_cast<Plan>(p)));
    const PlannerParams defaults;
    py::dict planner;
    planner["two_hop_selectivity"] = defaults.two_hop_selectivity;
    planner["switch_pass_rate"] = defaults.switch_pass_rate;
    planner["budget_factor"] = defaults.budget_factor;
    planner["min_two_hop_degree"] = defaults.min_two_hop_degree;
    planner["max_collect"] = defaults.max_collect;
    planner["group_scans"] = defaults.group_scans;
    m.attr("PLANNER_DEFAULTS") = planner;
    py::dict limits;
    limits["max_collect"] = Hnsw::kMaxSlot;
    limits["budget_factor"] = kMaxBudgetFactor;
    m.attr("PLANNER_LIMITS") = limits;
    m.attr("PLAN_NAMES") = names;
}

}  // namespace fanns::bindings
