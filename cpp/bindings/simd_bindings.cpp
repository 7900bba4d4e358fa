// Bindings for the distance kernels: which level runs, and direct access to
// every compiled level so tests can compare them with the scalar reference.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/register.h"
#include "simd/code_distance.h"
#include "simd/distance.h"
#include "simd/half_distance.h"

namespace py = pybind11;

namespace fanns::bindings {
namespace {

simd::Level level_from(const std::string& name) {
    simd::Level level;
    if (!simd::parse_level(name.c_str(), &level)) {
        throw py::value_error("unknown SIMD level '" + name + "' (expected scalar, avx2 or avx512)");
    }
    return level;
}

using Matrix = py::array_t<float, py::array::c_style | py::array::forcecast>;

py::array_t<float> pairwise(const std::string& kind, const Matrix& queries, const Matrix& base,
                            const std::string& level_name, const std::string& form) {
    if (queries.ndim() != 2 || base.ndim() != 2 || queries.shape(1) != base.shape(1)) {
        throw py::value_error("queries and base must be 2-D with the same number of columns");
    }
    if (form != "rows" && form != "tile") throw py::value_error("form must be 'rows' or 'tile', not '" + form + "'");
    const simd::Kernels& k = simd::kernels_for(level_from(level_name));
    if (kind != "l2" && kind != "ip") throw py::value_error("kind must be 'l2' or 'ip'");
    const bool l2 = kind == "l2";
    const auto nq = static_cast<std::size_t>(queries.shape(0));
    const auto nb = static_cast<std::size_t>(base.shape(0));
    const auto dim = static_cast<std::size_t>(queries.shape(1));
    py::array_t<float> out({nq, nb});
    float* o = out.mutable_data();
    const float* q = queries.data();
    const float* b = base.data();
    {
        py::gil_scoped_release release;
        if (form == "rows") {
            for (std::size_t i = 0; i < nq; ++i) (l2 ? k.l2sq_rows : k.dot_rows)(q + i * dim, b, nb, dim, o + i * nb);
        } else {
            // Every query against the rows picked by id, last row first.
            std::vector<const float*> qs(nq);
            for (std::size_t i = 0; i < nq; ++i) qs[i] = q + i * dim;
            std::vector<std::uint32_t> ids(nb);
            for (std::size_t j = 0; j < nb; ++j) ids[j] = static_cast<std::uint32_t>(nb - 1 - j);
            std::vector<float> values(nq * nb);
            (l2 ? k.l2sq_tile : k.dot_tile)(qs.data(), nq, b, dim, ids.data(), nb, dim, values.data());
            for (std::size_t i = 0; i < nq; ++i) {
                for (std::size_t j = 0; j < nb; ++j) o[i * nb + ids[j]] = values[i * nb + j];
            }
        }
    }
    return out;
}

// Integer matrices, checked before narrowing: a value outside the kernel's
// range is an error, never wrapped.
std::vector<std::int64_t> checked_integers(const py::array& array, const char* name, std::int64_t lo,
                                           std::int64_t hi) {
    const char kind = array.dtype().kind();
    if (kind != 'i' && kind != 'u') throw py::type_error(std::string(name) + " must hold integers");
    if (array.ndim() != 2) throw py::value_error(std::string(name) + " must be 2-D");
    auto values = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(array);
    if (!values) throw py::type_error(std::string(name) + " must hold integers");
    std::vector<std::int64_t> out(values.data(), values.data() + values.size());
    for (std::int64_t v : out) {
        if (v < lo || v > hi) {
            throw py::value_error(std::string(name) + " values must lie in [" + std::to_string(lo) + ", " +
                                  std::to_string(hi) + "]");
        }
    }
    return out;
}

py::array_t<std::int64_t> code_dot_products(const py::array& queries, const py::array& codes,
                                            const std::string& level_name, const std::string& form) {
    if (form != "rows" && form != "ids" && form != "tile") {
        throw py::value_error("form must be 'rows', 'ids' or 'tile', not '" + form + "'");
    }
    const std::vector<std::int64_t> q = checked_integers(queries, "queries", -simd::kDotQueryBound,
                                                         simd::kDotQueryBound);
    const std::vector<std::int64_t> c = checked_integers(codes, "codes", 0, 255);
    if (queries.shape(1) != codes.shape(1)) {
        throw py::value_error("queries and codes must have the same number of columns");
    }
    const simd::CodeKernels& k = simd::code_kernels_for(level_from(level_name));
    const auto nq = static_cast<std::size_t>(queries.shape(0));
    const auto nb = static_cast<std::size_t>(codes.shape(0));
    const auto dim = static_cast<std::size_t>(queries.shape(1));
    const std::vector<std::int8_t> bytes(q.begin(), q.end());
    const std::vector<std::uint8_t> rows(c.begin(), c.end());
    py::array_t<std::int64_t> out({nq, nb});
    std::int64_t* o = out.mutable_data();
    if (form == "rows") {
        for (std::size_t i = 0; i < nq; ++i) {
            for (std::size_t j = 0; j < nb; ++j) o[i * nb + j] = k.dot_u8(bytes.data() + i * dim, rows.data() + j * dim, dim);
        }
        return out;
    }
    // The id-list kernels as the row store uses them: rows padded to a
    // stride, visited in reverse order.
    const std::size_t stride = (dim + 3) / 4 * 4 + sizeof(float);
    std::vector<std::uint8_t> padded(nb * stride, 0xa5);
    std::vector<std::uint32_t> ids(nb);
    for (std::size_t j = 0; j < nb; ++j) {
        std::copy(rows.begin() + j * dim, rows.begin() + (j + 1) * dim, padded.begin() + j * stride);
        ids[j] = static_cast<std::uint32_t>(nb - 1 - j);
    }
    if (form == "tile") {
        std::vector<std::int32_t> sums(nq * nb);
        k.dot_u8_tile(bytes.data(), dim, nq, padded.data(), stride, ids.data(), nb, dim, sums.data());
        for (std::size_t i = 0; i < nq; ++i) {
            for (std::size_t j = 0; j < nb; ++j) o[i * nb + ids[j]] = sums[i * nb + j];
        }
        return out;
    }
    std::vector<std::int32_t> sums(nb);
    for (std::size_t i = 0; i < nq; ++i) {
        k.dot_u8_ids(bytes.data() + i * dim, padded.data(), stride, ids.data(), nb, dim, sums.data());
        for (std::size_t j = 0; j < nb; ++j) o[i * nb + ids[j]] = sums[j];
    }
    return out;
}

// Float16 rows (any 2-D array of 2-byte floats) against float32 queries with
// the f16 kernels of a level; by_ids: the id-list form, rows visited in
// reverse order.
py::array_t<float> half_distances(const std::string& kind, const Matrix& queries, const py::array& rows,
                                  const std::string& level_name, bool by_ids) {
    if (rows.dtype().kind() != 'f' || rows.dtype().itemsize() != 2) throw py::type_error("rows must be float16");
    if (queries.ndim() != 2 || rows.ndim() != 2 || queries.shape(1) != rows.shape(1)) {
        throw py::value_error("queries and rows must be 2-D with the same number of columns");
    }
    const simd::HalfKernels& k = simd::half_kernels_for(level_from(level_name));
    if (kind != "l2" && kind != "ip") throw py::value_error("kind must be 'l2' or 'ip'");
    const bool l2 = kind == "l2";
    const auto nq = static_cast<std::size_t>(queries.shape(0));
    const auto nb = static_cast<std::size_t>(rows.shape(0));
    const auto dim = static_cast<std::size_t>(queries.shape(1));
    // A packed copy: the caller's array may be strided.
    const py::array packed = py::module_::import("numpy").attr("ascontiguousarray")(rows);
    const auto* base = static_cast<const std::uint16_t*>(packed.data());
    py::array_t<float> out({nq, nb});
    float* o = out.mutable_data();
    const float* q = queries.data();
    std::vector<std::uint32_t> ids(nb);
    for (std::size_t j = 0; j < nb; ++j) ids[j] = static_cast<std::uint32_t>(nb - 1 - j);
    std::vector<float> sums(nb);
    for (std::size_t i = 0; i < nq; ++i) {
        if (by_ids) {
            (l2 ? k.l2sq_ids : k.dot_ids)(q + i * dim, base, dim, ids.data(), nb, dim, sums.data());
            for (std::size_t j = 0; j < nb; ++j) o[i * nb + ids[j]] = sums[j];
        } else {
            for (std::size_t j = 0; j < nb; ++j) o[i * nb + j] = (l2 ? k.l2sq : k.dot)(q + i * dim, base + j * dim, dim);
        }
    }
    return out;
}

}  // namespace

void register_simd(py::module_& m) {
    m.def("simd_level", [] { return std::string(simd::level_name(simd::active_level())); },
          "Name of the SIMD level the distance kernels use.");
    m.def("simd_best_level", [] { return std::string(simd::level_name(simd::best_level())); },
          "Highest SIMD level this CPU and build support.");
    m.def("simd_levels", [] {
        std::vector<std::string> names;
        for (auto l : {simd::Level::scalar, simd::Level::avx2, simd::Level::avx512}) {
            if (simd::level_supported(l)) names.emplace_back(simd::level_name(l));
        }
        return names;
    }, "SIMD levels available here, lowest first.");
    m.def("pairwise_distances", &pairwise, py::arg("kind"), py::arg("queries"), py::arg("base"),
          py::arg("level"), py::arg("form") = "rows",
          "Dense (nq, nb) matrix of squared L2 ('l2') or inner products ('ip') computed with the "
          "kernels of the named SIMD level: form 'rows' (one query against contiguous rows) or "
          "'tile' (every query against rows picked by id, as a group's exact scan scores them).");
    m.def("code_dot_products", &code_dot_products, py::arg("queries"), py::arg("codes"), py::arg("level"),
          py::arg("form") = "rows",
          "Dense (nq, nb) sums of q * c between integer query rows (values in [-64, 64]) and uint8 "
          "code rows, computed with the 8-bit code kernels of the named SIMD level: form 'rows' "
          "(one pair at a time), 'ids' (one query against rows picked by id) or 'tile' (every "
          "query against rows picked by id, each row read once), the last two over rows padded "
          "as the row store pads them.");
    m.def("half_distances", &half_distances, py::arg("kind"), py::arg("queries"), py::arg("rows"), py::arg("level"),
          py::arg("by_ids") = false,
          "Dense (nq, nb) squared L2 ('l2') or inner products ('ip') between float32 queries and "
          "float16 rows, computed with the f16 kernels of the named SIMD level (by_ids: their "
          "id-list form).");
}

}  // namespace fanns::bindings
