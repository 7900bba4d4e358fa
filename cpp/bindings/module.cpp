// The fanns._core extension module: thin bindings over the engine. Each part
// of the engine registers its own classes from its own file.
#include <pybind11/pybind11.h>

#include "bindings/register.h"

PYBIND11_MODULE(_core, m) {
    m.doc() = "fanns engine: SIMD kernels, HNSW, filtered traversal, range graphs, sparse indexes";
    fanns::bindings::register_simd(m);
    fanns::bindings::register_hnsw(m);
    fanns::bindings::register_range(m);
    fanns::bindings::register_sparse(m);
    fanns::bindings::register_runtime(m);
    fanns::bindings::register_fusion(m);
    fanns::bindings::register_jsonl(m);
}
