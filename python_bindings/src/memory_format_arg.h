#pragma once
// kiln.memory_format (torch.memory_format) objects and their conversion to kiln::MemoryFormat
// (memory_format.cpp).
#include <optional>

#include "bindings.h"
#include "kiln/memory_format.h"

namespace kiln::python {

// Registers kiln._C.memory_format and its singletons contiguous_format, channels_last,
// channels_last_3d and preserve_format.
void bind_memory_format(nb::module_& m);

// A memory_format argument: nullopt for None, else the format (TypeError for other objects).
std::optional<MemoryFormat> memory_format_arg(nb::handle obj, const char* op);

}  // namespace kiln::python
