// Bindings for the engine's runtime: small probes of its shared machinery
// (candidate order) that the tests drive directly.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "bindings/register.h"
#include "topk.h"

namespace py = pybind11;

namespace fanns::bindings {
namespace {

// Indices that sort (distances, ids) by the engine's candidate order.
py::array_t<std::int64_t> rank_candidates(const py::array_t<float, py::array::c_style | py::array::forcecast>& d,
                                          const py::array_t<std::uint32_t, py::array::c_style | py::array::forcecast>& ids) {
    if (d.ndim() != 1 || ids.ndim() != 1 || d.size() != ids.size()) {
        throw py::value_error("distances and ids must be 1-D of one length");
    }
    std::vector<std::pair<Candidate, std::int64_t>> items(static_cast<std::size_t>(d.size()));
    for (py::ssize_t i = 0; i < d.size(); ++i) items[std::size_t(i)] = {{d.data()[i], ids.data()[i]}, i};
    std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return closer(a.first, b.first); });
    py::array_t<std::int64_t> order(static_cast<py::ssize_t>(items.size()));
    for (std::size_t i = 0; i < items.size(); ++i) order.mutable_data()[i] = items[i].second;
    return order;
}

}  // namespace

void register_runtime(py::module_& m) {
    m.def("_rank_candidates", &rank_candidates, py::arg("distances"), py::arg("ids"));
}

}  // namespace fanns::bindings
