#include "ops/op_registry.h"

#include <array>

namespace kiln {
namespace {
constexpr std::array<OpInfo, size_t(OpId::NumOps)> kOps = {{
#define OP(id, name, kind) {OpId::id, name, OpKind::kind},
#include "ops/op_list.def"
#undef OP
}};
}  // namespace

const OpInfo& op_info(OpId id) { return kOps[size_t(id)]; }
std::span<const OpInfo> all_ops() { return kOps; }

}  // namespace kiln
