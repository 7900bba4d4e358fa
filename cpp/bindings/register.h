// One registration function per engine part, each defined in its own file.
#pragma once

#include <pybind11/pybind11.h>

namespace fanns::bindings {

// Name of the capsule an index hands its row store over in (a range graph
// over the same rows reads the store's encoding).
inline constexpr const char* kStoreCapsule = "fanns.row_store";

void register_simd(pybind11::module_& m);
void register_hnsw(pybind11::module_& m);
void register_range(pybind11::module_& m);
void register_sparse(pybind11::module_& m);
void register_runtime(pybind11::module_& m);
void register_fusion(pybind11::module_& m);
void register_jsonl(pybind11::module_& m);

}  // namespace fanns::bindings
