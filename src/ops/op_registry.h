#pragma once
// OpId and the op registry generated from op_list.def.
#include <cstdint>
#include <span>

namespace kiln {

enum class OpKind : uint8_t {
  Unary,
  Binary,
  Where,
  Reduce,
  ArgReduce,
  Softmax,
  Bmm,
  Conv,
  BatchNorm,
  Index,
  Scatter,
  Random,
  Factory,
  Composite,
  View
};

enum class OpId : uint16_t {
#define OP(id, name, kind) id,
#include "ops/op_list.def"
#undef OP
  NumOps
};

struct OpInfo {
  OpId id;
  const char* name;
  OpKind kind;
};

const OpInfo& op_info(OpId id);
inline const char* op_name(OpId id) { return op_info(id).name; }
std::span<const OpInfo> all_ops();

}  // namespace kiln
