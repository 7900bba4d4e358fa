#include "bindings/register.h"

namespace fanns::bindings {

void register_range(pybind11::module_& /*m*/) {}

}  // namespace fanns::bindings
