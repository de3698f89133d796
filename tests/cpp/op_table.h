#pragma once
// The backend-ops table: every op with its inputs, how they are generated, and per-dtype
// tolerances. The gradcheck test runs each differentiable row in float64; the backend test runs
// each row in low precision against float64 on the CPU, and on CUDA against the CPU.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "kiln/kiln.h"
#include "ops/op_registry.h"

namespace kiln::testing {

enum class Domain {
  Any,           // standard normal
  Positive,      // in [0.5, 2.5)
  Unit,          // in (-0.9, 0.9)
  AwayFromZero,  // |x| in [0.5, 2)
};

struct OpCase {
  std::string name;  // "add/broadcast"
  OpId op;           // the op_list entry this row covers
  std::vector<Shape> shapes;
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> fn;
  std::vector<Domain> domains = {};  // per input; Any when missing
  bool differentiable = true;
  bool second_order = true;  // also gradcheck the backward itself
  double tol_f32 = 1e-5;     // relative and absolute tolerance vs float64
  double tol_bf16 = 3e-2;
  double tol_f16 = 5e-3;
};

const std::vector<OpCase>& op_table();

// A gtest-safe name for row `info.param` of the table (for INSTANTIATE_TEST_SUITE_P).
std::string op_row_name(const ::testing::TestParamInfo<size_t>& info);

// Inputs for a row: float64 values from a fixed seed, converted to `dtype` on `device`. With
// `non_contiguous`, inputs of rank >= 1 are strided views (transposed or stepped) with the
// same logical values.
std::vector<Tensor> make_inputs(const OpCase& c, DType dtype, Device device, uint64_t seed,
                                bool non_contiguous = false);

}  // namespace kiln::testing
