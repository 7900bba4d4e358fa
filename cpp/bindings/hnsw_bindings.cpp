// Bindings for the HNSW index: build, batched (filtered) search, state
// export/import. Python validates arguments; these checks guard the engine.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/register.h"
#include "hnsw.h"
#include "search.h"

namespace py = pybind11;

namespace fanns::bindings {
namespace {

using FloatMatrix = py::array_t<float, py::array::c_style | py::array::forcecast>;
using WordArray = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>;
using Int32Array = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;

template <class T>
py::array_t<T> to_numpy(const std::vector<T>& v, std::vector<py::ssize_t> shape) {
    py::array_t<T> out(shape);
    if (!v.empty()) std::memcpy(out.mutable_data(), v.data(), v.size() * sizeof(T));
    return out;
}

template <class T>
std::vector<T> from_numpy(const py::dict& d, const char* key) {
    if (!d.contains(key)) throw py::value_error(std::string("corrupt index: missing section ") + key);
    auto arr = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(d[key]);
    if (!arr) throw py::value_error(std::string("corrupt index: bad section ") + key);
    return std::vector<T>(arr.data(), arr.data() + arr.size());
}

PlannerParams planner_params(const py::dict& d) {
    PlannerParams p;
    for (auto item : d) {
        const auto key = item.first.cast<std::string>();
        if (key == "exact_threshold") p.exact_threshold = item.second.cast<std::size_t>();
        else if (key == "two_hop_selectivity") p.two_hop_selectivity = item.second.cast<double>();
        else if (key == "switch_pass_rate") p.switch_pass_rate = item.second.cast<double>();
        else if (key == "budget_factor") p.budget_factor = item.second.cast<double>();
        else if (key == "max_collect") p.max_collect = item.second.cast<std::size_t>();
        else if (key == "min_two_hop_degree") p.min_two_hop_degree = item.second.cast<double>();
        else throw py::key_error("unknown planner parameter '" + key + "'");
    }
    return p;
}

class HnswIndex {
public:
    HnswIndex(std::size_t dim, const std::string& metric, std::size_t M, std::size_t M0,
              std::size_t ef_construction, std::uint64_t seed, std::size_t m_beta, const std::string& storage)
        : graph_(std::make_unique<Hnsw>(dim, parse_metric(metric),
                                        HnswParams{M, M0, ef_construction, seed, m_beta, parse_storage(storage)})) {}

    void build(const FloatMatrix& vectors, std::size_t threads) { insert_rows(vectors, threads, &Hnsw::build); }

    // Rows appended and inserted into the graph (see Hnsw::extend). Only on
    // an engine no search reads: a copy().
    void extend(const FloatMatrix& vectors, std::size_t threads) { insert_rows(vectors, threads, &Hnsw::extend); }

    // A deep copy (graph, rows, codes) that can be extended while searches
    // read this one.
    HnswIndex copy() const {
        py::gil_scoped_release release;
        return HnswIndex(std::make_unique<Hnsw>(*graph_));
    }

    py::tuple search(const FloatMatrix& queries, std::size_t k, std::size_t ef, std::size_t threads,
                     const std::vector<WordArray>& bitsets, const std::vector<std::size_t>& counts,
                     const py::object& query_filter, const py::dict& planner) const {
        if (queries.ndim() != 2 || std::size_t(queries.shape(1)) != graph_->dim()) {
            throw py::value_error("queries must have shape (nq, dim)");
        }
        if (k == 0) throw py::value_error("k must be positive");
        if (bitsets.size() != counts.size()) throw py::value_error("one count per bitset");
        const std::size_t nq = queries.shape(0);
        const std::size_t n = graph_->size();
        BatchRequest req;
        req.queries = queries.data();
        req.nq = nq;
        req.k = k;
        req.ef = ef;
        req.threads = threads;
        req.planner = planner_params(planner);
        for (std::size_t i = 0; i < bitsets.size(); ++i) {
            if (std::size_t(bitsets[i].size()) != (n + 63) / 64) throw py::value_error("bitset has the wrong length");
            req.filters.push_back({BitsetView{bitsets[i].data(), n}, counts[i]});
        }
        Int32Array qf;
        if (!query_filter.is_none()) {
            qf = Int32Array::ensure(query_filter);
            if (!qf || std::size_t(qf.size()) != nq) throw py::value_error("query_filter must have length nq");
            for (py::ssize_t i = 0; i < qf.size(); ++i) {
                if (qf.data()[i] >= static_cast<std::int32_t>(bitsets.size()) || qf.data()[i] < -1) {
                    throw py::value_error("query_filter index out of range");
                }
            }
            req.query_filter = qf.data();
        }
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

    std::string plan_for(std::size_t passing, bool filtered, std::size_t ef, std::size_t k,
                         const py::dict& planner) const {
        const PlanInput in{graph_->size(), passing,           filtered, graph_->params().M0, scan_depth(ef, k),
                           graph_->store().coded()};
        return plan_name(choose_plan(in, planner_params(planner)));
    }

    py::dict state() const {
        Hnsw::State s = graph_->state();
        const auto n = static_cast<py::ssize_t>(graph_->size());
        const auto& p = graph_->params();
        py::dict d;
        d["vectors"] = to_numpy(s.vectors, {n, static_cast<py::ssize_t>(graph_->dim())});
        d["links0"] = to_numpy(s.links0, {n, static_cast<py::ssize_t>(p.M0 + 1)});
        d["levels"] = to_numpy(s.levels, {n});
        d["upper_offsets"] = to_numpy(s.upper_offsets, {n + 1});
        d["upper_links"] = to_numpy(s.upper_links, {static_cast<py::ssize_t>(s.upper_links.size())});
        d["entry"] = s.entry;
        d["max_level"] = s.max_level;
        return d;
    }

    void restore(const py::dict& d) {
        Hnsw::State s;
        s.vectors = from_numpy<float>(d, "vectors");
        s.links0 = from_numpy<std::uint32_t>(d, "links0");
        s.levels = from_numpy<std::uint8_t>(d, "levels");
        s.upper_offsets = from_numpy<std::uint64_t>(d, "upper_offsets");
        s.upper_links = from_numpy<std::uint32_t>(d, "upper_links");
        s.entry = d["entry"].cast<std::uint32_t>();
        s.max_level = d["max_level"].cast<int>();
        graph_->restore(std::move(s));
    }

    std::size_t size() const { return graph_->size(); }
    std::size_t dim() const { return graph_->dim(); }
    std::size_t memory_bytes() const { return graph_->memory_bytes(); }
    py::dict memory_parts() const {
        py::dict d;
        d["links"] = graph_->link_bytes();
        d["codes"] = graph_->store().code_bytes();
        d["rows"] = graph_->store().float_bytes();
        return d;
    }
    std::string storage() const { return storage_name(graph_->params().storage); }
    // The row codes, for a range graph over the same rows to read (None
    // without codes). The capsule does not keep the index alive: holders
    // keep the index object itself.
    py::object codes_handle() const {
        if (!graph_->store().coded()) return py::none();
        return py::capsule(static_cast<const void*>(&graph_->store().codes()), kCodesCapsule);
    }
    bool coded() const { return graph_->store().coded(); }
    py::array_t<float> vectors_view(py::object self) const {
        const auto n = static_cast<py::ssize_t>(graph_->size());
        const auto d = static_cast<py::ssize_t>(graph_->dim());
        py::array_t<float> view({n, d}, {d * py::ssize_t(sizeof(float)), py::ssize_t(sizeof(float))},
                                graph_->vectors(), self);
        py::detail::array_proxy(view.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
        return view;
    }
    py::array_t<std::uint32_t> neighbours(std::uint32_t id, int level) const {
        if (id >= graph_->size() || level < 0 || level > graph_->level(id)) throw py::index_error("no such node/level");
        std::size_t count;
        const std::uint32_t* nb = graph_->neighbours(id, level, &count);
        return to_numpy(std::vector<std::uint32_t>(nb, nb + count), {static_cast<py::ssize_t>(count)});
    }

private:
    explicit HnswIndex(std::unique_ptr<Hnsw> graph) : graph_(std::move(graph)) {}

    void insert_rows(const FloatMatrix& vectors, std::size_t threads,
                     void (Hnsw::*insert)(const float*, std::size_t, std::size_t)) {
        if (vectors.ndim() != 2 || std::size_t(vectors.shape(1)) != graph_->dim()) {
            throw py::value_error("vectors must have shape (n, dim)");
        }
        const float* data = vectors.data();
        const std::size_t n = vectors.shape(0);
        py::gil_scoped_release release;
        ((*graph_).*insert)(data, n, threads);
    }

    std::unique_ptr<Hnsw> graph_;
};

}  // namespace

void register_hnsw(py::module_& m) {
    py::class_<HnswIndex>(m, "HnswIndex")
        .def(py::init<std::size_t, const std::string&, std::size_t, std::size_t, std::size_t, std::uint64_t,
                      std::size_t, const std::string&>(),
             py::arg("dim"), py::arg("metric"), py::arg("M"), py::arg("M0"), py::arg("ef_construction"),
             py::arg("seed"), py::arg("m_beta") = 0, py::arg("storage") = "f32")
        .def("build", &HnswIndex::build, py::arg("vectors"), py::arg("threads"))
        .def("extend", &HnswIndex::extend, py::arg("vectors"), py::arg("threads"))
        .def("copy", &HnswIndex::copy)
        .def("search", &HnswIndex::search, py::arg("queries"), py::arg("k"), py::arg("ef"), py::arg("threads"),
             py::arg("bitsets"), py::arg("counts"), py::arg("query_filter"), py::arg("planner"))
        .def("plan_for", &HnswIndex::plan_for, py::arg("passing"), py::arg("filtered"), py::arg("ef"),
             py::arg("k"), py::arg("planner"))
        .def("state", &HnswIndex::state)
        .def("restore", &HnswIndex::restore, py::arg("state"))
        .def("vectors", [](py::object self) { return self.cast<const HnswIndex&>().vectors_view(self); })
        .def("neighbours", &HnswIndex::neighbours, py::arg("id"), py::arg("level"))
        .def_property_readonly("size", &HnswIndex::size)
        .def_property_readonly("dim", &HnswIndex::dim)
        .def("memory_bytes", &HnswIndex::memory_bytes)
        .def("memory_parts", &HnswIndex::memory_parts)
        .def_property_readonly("storage", &HnswIndex::storage)
        .def_property_readonly("coded", &HnswIndex::coded)
        .def("codes_handle", &HnswIndex::codes_handle);
    py::list names;
    for (Plan p : {Plan::graph, Plan::filtered, Plan::acorn, Plan::exact, Plan::empty, Plan::scan}) {
        names.append(plan_name(p));
    }
    m.attr("PLAN_NAMES") = names;
}

}  // namespace fanns::bindings
