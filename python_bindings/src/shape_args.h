#pragma once
// PyTorch's two spellings of a size argument: x.view(2, 3) and x.view((2, 3)) / x.view([2, 3]).
#include <nanobind/nanobind.h>

#include "kiln/shape.h"

namespace kiln::python {

// Reads `args` as ints, or as one sequence of ints; `what` names the call in the TypeError.
std::vector<int64_t> int_list_from_args(const nanobind::args& args, const char* what);
// The same for one object: an int or a sequence of ints.
std::vector<int64_t> int_list_from_object(nanobind::handle obj, const char* what);

}  // namespace kiln::python
