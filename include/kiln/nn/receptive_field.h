#pragma once
// kiln::nn::receptive_field: layer by layer, the output shape and the receptive field of a
// convolutional network (size, jump = cumulative stride, start = centre of the first output's
// field), per spatial dimension, in input pixels.
//
//   auto rf = nn::receptive_field(*model, {1, 3, 224, 224});
//   std::cout << rf;                       // a table, one row per layer
//   rf.layers.back().receptive_field[0];   // 435 after ResNet-18's layer4 ... (see the rows)
//
// Coordinates: input pixel i sits at i (so the input row has size 1, jump 1, start 0); padding
// makes start negative. Through a layer with kernel k, stride s, padding p (the padding before
// the first element) and dilation d, with k_eff = d * (k - 1) + 1:
//   jump_out  = jump_in * s
//   field_out = field_in + (k_eff - 1) * jump_in
//   start_out = start_in + ((k_eff - 1) / 2 - p) * jump_in
//
// How a model is walked. C++ modules have no forward hooks, and a residual block's forward is
// not its list of children (the shortcut runs beside the main path), so the walk follows the
// main path explicitly, running every layer on a zero tensor (under no_grad, in eval mode, the
// training flags restored afterwards) to get the real shapes:
//   - a Sequential runs its children in order;
//   - a module implementing FieldTraced (the model zoo: LeNet5, VGG, ResNet and its blocks,
//     UNet) runs its forward with each main-path layer called through the FieldTracer; shortcut
//     and skip branches run as usual, unrecorded. Rule for branches: a residual sum or a skip
//     concatenation is charged to the main path, whose field contains the shortcut's (a 1x1
//     stride-s projection, or the identity, sees a sub-field of the 3x3 path beside it; a
//     U-Net's skip tensor was computed on the way down to the deeper path);
//   - a layer (a module without children) is recognised by type:
//       ConvNd (any padding / padding_mode) and Max/AvgPool1d/2d: the formula above;
//       transposed convolutions, Upsample and PixelShuffle place each output at its coordinate
//       in the input grid (torch's half-pixel convention; align_corners maps the corners):
//       jump_out = jump_in / scale, start_out = that coordinate of output 0, and the field grows
//       by the span of inputs one output mixes (transposed: floor((k_eff - 1) / s), bilinear: 1,
//       nearest and pixel shuffle: 0): after up-sampling the figures are this continuous
//       geometry, the largest field over output positions;
//       adaptive pools: when the input size is a multiple of the output size, a pool with
//       kernel = stride = in / out (exact); otherwise the largest of the uneven windows, a
//       fractional jump in / out and the centre of the first window;
//       PixelUnshuffle(r): kernel = stride = r;
//       every other layer whose output keeps the spatial sizes (BatchNorm, activations,
//       dropout, Identity, ...) leaves the field unchanged (normalisation statistics aside);
//       any other layer that changes them is an error naming it;
//   - any other module with children is an error (make it a Sequential or a FieldTraced).
// When a tensor stops being [N, C, *spatial] (Flatten, a functional flatten before Linear),
// the field folds over what is left: field += (size - 1) * jump, start += (size - 1) / 2 *
// jump, jump *= size; later rows keep that whole-input field. The input to each traced layer
// must have the spatial sizes the walk arrived at: a functional op on the main path that
// changed them (an F.max_pool2d in a forward) is reported, not silently missed.
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "kiln/nn/module.h"
#include "kiln/shape.h"
#include "kiln/tensor.h"

namespace kiln::nn {

// One row of the table: the state after a layer, per spatial dimension.
struct LayerField {
  std::string name;  // dotted path from the model ("layer1.0.conv1"); "input" for the first row
  std::string type;  // the module's type name ("Conv2d"); "-" for the input
  Shape output_shape;
  std::vector<double> receptive_field, jump, start;  // one entry per spatial dim of the input
};

struct ReceptiveField {
  std::vector<LayerField> layers;  // layers[0] is the input (field 1, jump 1, start 0)
  // The first row named `name` (the last when the layer ran several times: last = true);
  // throws kiln::ValueError when absent.
  const LayerField& at(const std::string& name, bool last = false) const;
  // The table: columns layer, type, output shape, receptive field, jump, start; per-dim
  // values joined by "x" ("7x7"), whole numbers without decimals, others as %.6g.
  std::string to_string() const;
};
std::ostream& operator<<(std::ostream& os, const ReceptiveField& rf);

class FieldTracer;

// A module whose forward is not its children run in registration order describes its main
// path: trace_field runs the forward with each main-path child called through
// tracer.step(...), and returns the output. The zoo's modules share one body between forward
// and trace_field (a FieldTracer* that is null in forward).
class FieldTraced {
 public:
  virtual ~FieldTraced() = default;
  virtual Tensor trace_field(FieldTracer& tracer, const Tensor& x) = 0;
};

// Walks a model; created by receptive_field.
class FieldTracer {
 public:
  // Runs `module` (the child called `name` of the module being traced) on `x` along the main
  // path: recurses into Sequential / FieldTraced modules, records a row for each layer.
  Tensor step(const std::string& name, Module& module, const Tensor& x);

  // The same when tracer may be null (plain forward): one body serves forward and
  // trace_field.
  static Tensor call(FieldTracer* tracer, const std::string& name, Module& module,
                     const Tensor& x) {
    return tracer != nullptr ? tracer->step(name, module, x) : module(x);
  }

 private:
  friend ReceptiveField receptive_field(Module& model, const Shape& input_shape);
  explicit FieldTracer(const Shape& input_shape);
  Tensor layer(const std::string& path, Module& module, const Tensor& x);
  void check_input(const std::string& path, Module& module, const Tensor& x);
  void fold();
  void record(const std::string& path, const std::string& type, const Tensor& out);

  int64_t spatial_dims_;
  bool spatial_ = true;        // false once the traced tensor lost its spatial dims
  std::vector<int64_t> size_;  // spatial sizes the walk arrived at
  std::vector<double> field_, jump_, start_;
  std::vector<std::string> prefix_;  // names of the modules being traced
  ReceptiveField result_;
};

// The table for `model` on an input of `input_shape` ([N, C, *spatial] with 1 to 3 spatial
// dims). Runs the model's layers on zeros of the dtype and device of its first parameter
// (float32 on the CPU without parameters) in eval mode, without gradients; the training
// flags are restored afterwards.
ReceptiveField receptive_field(Module& model, const Shape& input_shape);

}  // namespace kiln::nn
