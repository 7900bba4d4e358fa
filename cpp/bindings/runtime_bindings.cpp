// Bindings for the engine's runtime: the CPUs it may use, and small probes
// of its shared machinery (thread pool, scratch pool, candidate order) that
// the tests drive directly.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "bindings/register.h"
#include "parallel.h"
#include "scratch_pool.h"
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

// Runs parallel_for(count, threads, chunk) summing i; with `nested`, each
// item runs an inner loop of `nested` items. Returns (sum, distinct workers
// seen, largest worker id + 1).
py::tuple parallel_sum(std::size_t count, std::size_t threads, std::size_t chunk, std::size_t nested,
                       std::int64_t fail_at) {
    std::atomic<std::uint64_t> sum{0};
    const std::size_t workers = workers_for(count, threads);
    std::vector<std::atomic<int>> seen(workers);
    {
        py::gil_scoped_release release;
        parallel_for(count, threads, chunk, [&](std::size_t i, std::size_t worker) {
            if (worker >= workers) throw std::logic_error("worker id out of range");
            seen[worker] = 1;
            if (fail_at >= 0 && i == std::size_t(fail_at)) throw std::invalid_argument("item failed on purpose");
            if (nested == 0) {
                sum += i;
                return;
            }
            parallel_for(nested, threads, 1, [&](std::size_t j, std::size_t) { sum += i * nested + j; });
        });
    }
    std::size_t distinct = 0;
    for (auto& s : seen) distinct += std::size_t(s.load());
    return py::make_tuple(sum.load(), distinct, workers);
}

// Holds `holders` objects of a ScratchPool at once, gives them back, and
// returns how many the pool keeps idle.
std::size_t scratch_pool_idle_after(std::size_t holders) {
    ScratchPool<std::vector<char>> pool;
    std::vector<std::unique_ptr<std::vector<char>>> held;
    for (std::size_t i = 0; i < holders; ++i) {
        held.push_back(pool.acquire([] { return std::make_unique<std::vector<char>>(64); }));
    }
    for (auto& h : held) pool.release(std::move(h));
    return pool.idle();
}

}  // namespace

void register_runtime(py::module_& m) {
    m.def("cpu_count", &usable_cpus,
          "CPUs this process may use: its affinity mask, limited by any cgroup CPU quota. "
          "threads=0 means this many, and no call uses more.");
    m.def("_rank_candidates", &rank_candidates, py::arg("distances"), py::arg("ids"));
    m.def("_parallel_sum", &parallel_sum, py::arg("count"), py::arg("threads"), py::arg("chunk"),
          py::arg("nested") = 0, py::arg("fail_at") = -1);
    m.def("_scratch_pool_idle_after", &scratch_pool_idle_after, py::arg("holders"));
}

}  // namespace fanns::bindings
