#pragma once
// Logging through spdlog. The level comes from the KILN_LOG_LEVEL environment variable
// (trace, debug, info, warn, error, off; default warn).
#include <memory>

namespace spdlog {
class logger;
}

namespace kiln {
std::shared_ptr<spdlog::logger> logger();
}  // namespace kiln
