// Registration point for the optional engine parts.
#include "bindings/register.h"

namespace fanns::bindings {

void register_extensions(pybind11::module_& /*m*/) {}

}  // namespace fanns::bindings
