// The convolution ops (src/ops/conv.h): argument checks, result allocation in the input's memory
// format, the backend kernel call, and the backward of each op written with the other two:
//   F(x, w)      = y:  dx = D(gy, w),       dw = W(x, gy)
//   D(gy, w)     = dx: d gy = F(g, w),      d w = W(g, gy)      (D is linear in gy and in w)
//   W(x, gy)     = dw: d x = D(gy, g),      d gy = F(x, g)      (W is linear in x and in gy)
// where g is the incoming gradient. Because D and W are ops with backward formulas of their
// own, gradients of gradients (double backward, Hessian-vector products) work to any order.
#include "ops/conv.h"

#include <string>

#include "kiln/memory_format.h"
#include "ops/op_common.h"

namespace kiln {

namespace {

constexpr const char* kForward = "convolution";
constexpr const char* kData = "convolution_backward_input";
constexpr const char* kWeight = "convolution_backward_weight";

std::string geometry_str(const ConvGeometry& g) {
  auto list = [&](const std::array<int64_t, 3>& v) {
    std::string s = "(";
    for (int i = 0; i < g.spatial; ++i) s += (i ? ", " : "") + std::to_string(v[size_t(i)]);
    return s + ")";
  };
  return "stride " + list(g.stride) + ", padding " + list(g.padding) + ", dilation " +
         list(g.dilation) + ", groups " + std::to_string(g.groups);
}

void check_geometry(const char* op, const ConvGeometry& g) {
  KILN_CHECK_VALUE(g.spatial >= 1 && g.spatial <= 3, op, ": expected 1, 2 or 3 spatial dims, got ",
                   g.spatial);
  KILN_CHECK_VALUE(g.groups >= 1, op, ": groups must be positive, got ", g.groups);
  for (int i = 0; i < g.spatial; ++i)
    KILN_CHECK_VALUE(
        g.stride[size_t(i)] >= 1 && g.dilation[size_t(i)] >= 1 && g.padding[size_t(i)] >= 0, op,
        ": invalid geometry (", geometry_str(g), ")");
}

// The tensors share a device and a floating dtype.
void check_tensors(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, {&a, &b});
  check_same_device(op, {&a, &b});
  KILN_CHECK_TYPE(is_floating(a.dtype()), op, ": expected floating point tensors, got ",
                  describe(a));
  KILN_CHECK_TYPE(a.dtype() == b.dtype(), op, ": expected tensors of one dtype, got ", describe(a),
                  " and ", describe(b));
}

// x [N, C, I...], w [OC, C / groups, K...], y [N, OC, O...] consistent with g; O must equal
// the output size computed from I (when `y` is given) or be at least 1.
void check_shapes(const char* op, const Shape& x, const Shape& w, const Shape* y,
                  const ConvGeometry& g) {
  const size_t dims = size_t(g.spatial) + 2;
  KILN_CHECK_VALUE(x.size() == dims && w.size() == dims && (!y || y->size() == dims), op,
                   ": expected ", dims, "-D input and weight for ", g.spatial,
                   " spatial dims, got input ", shape_str(x), ", weight ", shape_str(w),
                   y ? ", output " + shape_str(*y) : "");
  KILN_CHECK_VALUE(w[0] % g.groups == 0 && x[1] == w[1] * g.groups, op, ": input ", shape_str(x),
                   " and weight ", shape_str(w), " do not fit groups=", g.groups);
  if (y)
    KILN_CHECK_VALUE((*y)[0] == x[0] && (*y)[1] == w[0], op, ": output ", shape_str(*y),
                     " does not fit input ", shape_str(x), " and weight ", shape_str(w));
  for (int i = 0; i < g.spatial; ++i) {
    const size_t d = size_t(i) + 2;
    KILN_CHECK_VALUE(w[d] >= 1, op, ": weight ", shape_str(w), " has an empty kernel");
    const int64_t out = conv_output_size(x[d], g.padding[size_t(i)], w[d], g.stride[size_t(i)],
                                         g.dilation[size_t(i)]);
    KILN_CHECK_VALUE(out >= 1 && (!y || (*y)[d] == out), op, ": input ", shape_str(x),
                     " and weight ", shape_str(w), " with ", geometry_str(g), " give spatial size ",
                     out, y ? ", but the output is " + shape_str(*y) : std::string(" (below 1)"));
  }
}

TensorOptions options_of(const Tensor& t) { return TensorOptions(t.dtype(), t.device()); }

// The format results follow: channels-last when `like` is.
MemoryFormat format_of(const Tensor& like) { return suggest_memory_format(like); }

Shape output_shape(const Shape& x, const Shape& w, const ConvGeometry& g) {
  Shape y{x[0], w[0]};
  for (int i = 0; i < g.spatial; ++i) {
    const size_t d = size_t(i) + 2;
    y.push_back(conv_output_size(x[d], g.padding[size_t(i)], w[d], g.stride[size_t(i)],
                                 g.dilation[size_t(i)]));
  }
  return y;
}

}  // namespace

int64_t conv_output_size(int64_t in, int64_t padding, int64_t kernel, int64_t stride,
                         int64_t dilation) {
  const int64_t span = in + 2 * padding - dilation * (kernel - 1) - 1;
  return (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
}

Tensor convolution(const Tensor& x, const Tensor& w, const ConvGeometry& g) {
  check_tensors(kForward, x, w);
  check_geometry(kForward, g);
  check_shapes(kForward, x.shape(), w.shape(), nullptr, g);
  Tensor y = empty(output_shape(x.shape(), w.shape(), g), options_of(x), format_of(x));
  backend_for(OpId::ConvForward, x.device()).conv_forward(x, w, g, y);
  if (should_record({&x, &w})) {
    SavedTensor sx(x), sw(w);
    const Shape xs = x.shape(), ws = w.shape();
    record("ConvolutionBackward0", {x, w}, {y},
           [sx, sw, xs, ws, g](FunctionNode& n, const std::vector<Tensor>& grads) {
             Tensor gx, gw;
             if (!grads[0].defined()) return std::vector<Tensor>{gx, gw};
             if (n.needs_input_grad(0)) gx = convolution_backward_input(grads[0], sw.get(n), g, xs);
             if (n.needs_input_grad(1))
               gw = convolution_backward_weight(sx.get(n), grads[0], g, ws);
             return std::vector<Tensor>{gx, gw};
           });
  }
  return y;
}

Tensor convolution_backward_input(const Tensor& dy, const Tensor& w, const ConvGeometry& g,
                                  const Shape& input_shape) {
  check_tensors(kData, dy, w);
  check_geometry(kData, g);
  check_shapes(kData, input_shape, w.shape(), &dy.shape(), g);
  Tensor dx = empty(input_shape, options_of(dy), format_of(dy));  // same rank, checked above
  backend_for(OpId::ConvBackwardData, dy.device()).conv_backward_data(dy, w, g, dx);
  if (should_record({&dy, &w})) {
    SavedTensor sdy(dy), sw(w);
    const Shape ws = w.shape();
    record("ConvolutionBackwardInputBackward0", {dy, w}, {dx},
           [sdy, sw, ws, g](FunctionNode& n, const std::vector<Tensor>& grads) {
             Tensor gdy, gw;
             if (!grads[0].defined()) return std::vector<Tensor>{gdy, gw};
             if (n.needs_input_grad(0)) gdy = convolution(grads[0], sw.get(n), g);
             if (n.needs_input_grad(1))
               gw = convolution_backward_weight(grads[0], sdy.get(n), g, ws);
             return std::vector<Tensor>{gdy, gw};
           });
  }
  return dx;
}

Tensor convolution_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g,
                                   const Shape& weight_shape) {
  check_tensors(kWeight, x, dy);
  check_geometry(kWeight, g);
  check_shapes(kWeight, x.shape(), weight_shape, &dy.shape(), g);
  Tensor dw = empty(weight_shape, options_of(x), format_of(x));
  backend_for(OpId::ConvBackwardWeight, x.device()).conv_backward_weight(x, dy, g, dw);
  if (should_record({&x, &dy})) {
    SavedTensor sx(x), sdy(dy);
    const Shape xs = x.shape();
    record("ConvolutionBackwardWeightBackward0", {x, dy}, {dw},
           [sx, sdy, xs, g](FunctionNode& n, const std::vector<Tensor>& grads) {
             Tensor gx, gdy;
             if (!grads[0].defined()) return std::vector<Tensor>{gx, gdy};
             if (n.needs_input_grad(0))
               gx = convolution_backward_input(sdy.get(n), grads[0], g, xs);
             if (n.needs_input_grad(1)) gdy = convolution(sx.get(n), grads[0], g);
             return std::vector<Tensor>{gx, gdy};
           });
  }
  return dw;
}

}  // namespace kiln
