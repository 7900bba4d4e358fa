// Binding of the score fusion of hybrid search (fusion.h): two ranked lists
// per query in, one fused top-k out. Python checks the arguments' meaning;
// this checks what the engine relies on (shapes, ranges).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/register.h"
#include "fusion.h"
#include "parallel.h"

namespace py = pybind11;

namespace fanns::bindings {
namespace {

py::tuple fuse(const Array<std::int64_t>& a_ids, const Array<double>& a_scores, const Array<std::int64_t>& b_ids,
               const Array<double>& b_scores, std::size_t k, int rule, double fusion_k, double a_weight,
               double b_weight, std::size_t threads) {
    if (a_ids.ndim() != 2 || b_ids.ndim() != 2 || a_scores.ndim() != 2 || b_scores.ndim() != 2) {
        throw py::value_error("fuse: ids and scores must be 2-D (nq, depth)");
    }
    if (a_ids.shape(0) != a_scores.shape(0) || a_ids.shape(1) != a_scores.shape(1) ||
        b_ids.shape(0) != b_scores.shape(0) || b_ids.shape(1) != b_scores.shape(1)) {
        throw py::value_error("fuse: each side's ids and scores must have one shape");
    }
    if (a_ids.shape(0) != b_ids.shape(0)) throw py::value_error("fuse: the two sides hold different query counts");
    if (k < 1 || k > (std::size_t(1) << 24)) throw py::value_error("fuse: k must be in [1, 2**24]");
    if (rule < 0 || rule > 2) throw py::value_error("fuse: unknown rule");
    if (!(std::isfinite(fusion_k) && fusion_k >= 0 && std::isfinite(a_weight) && a_weight >= 0 &&
          std::isfinite(b_weight) && b_weight >= 0)) {
        throw py::value_error("fuse: fusion_k and weights must be finite and >= 0");
    }
    const std::size_t nq = std::size_t(a_ids.shape(0));
    const FusionSide a{a_ids.data(), a_scores.data(), std::size_t(a_ids.shape(1)), a_weight, 1};
    const FusionSide b{b_ids.data(), b_scores.data(), std::size_t(b_ids.shape(1)), b_weight, 2};
    py::array_t<std::int64_t> ids({py::ssize_t(nq), py::ssize_t(k)});
    py::array_t<float> scores({py::ssize_t(nq), py::ssize_t(k)});
    py::array_t<std::uint8_t> sources({py::ssize_t(nq), py::ssize_t(k)});
    std::int64_t* out_ids = ids.mutable_data();
    float* out_scores = scores.mutable_data();
    std::uint8_t* out_sources = sources.mutable_data();
    {
        py::gil_scoped_release release;
        const std::size_t workers = workers_for(nq, threads);
        std::vector<std::vector<FusedEntry>> scratch(workers);
        parallel_for(nq, threads, 16, [&](std::size_t q, std::size_t worker) {
            fuse_query(a, b, q, k, FusionRule(rule), fusion_k, scratch[worker], out_ids + q * k, out_scores + q * k,
                       out_sources + q * k);
        });
    }
    return py::make_tuple(ids, scores, sources);
}

}  // namespace

void register_fusion(py::module_& m) {
    m.def("fuse", &fuse, py::arg("a_ids"), py::arg("a_scores"), py::arg("b_ids"), py::arg("b_scores"), py::arg("k"),
          py::arg("rule"), py::arg("fusion_k"), py::arg("a_weight"), py::arg("b_weight"), py::arg("threads"),
          "Fuse two ranked lists per query (rule 0 rrf, 1 dbsf, 2 weighted) into (ids, scores, sources).");
}

}  // namespace fanns::bindings
