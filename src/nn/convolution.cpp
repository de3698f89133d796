// Convolution modules (include/kiln/nn/convolution.h): torch's _ConvNd options, parameters,
// initialisation and repr over the functional convolutions of include/kiln/nn/conv.h.
#include "kiln/nn/convolution.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "kiln/error.h"
#include "kiln/nn/init.h"
#include "kiln/nn/resample.h"
#include "kiln/ops.h"

namespace kiln::nn {

namespace F = functional;

namespace {

template <size_t N>
std::vector<int64_t> vec(const std::array<int64_t, N>& a) {
  return {a.begin(), a.end()};
}

// A Python tuple: "(3, 3)", "(3,)".
std::string tuple_str(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

bool all_equal(const std::vector<int64_t>& v, int64_t x) {
  for (int64_t e : v)
    if (e != x) return false;
  return true;
}

// The padding before each dim for a 'same' convolution: dilation * (kernel - 1) / 2.
std::vector<int64_t> same_before(const std::vector<int64_t>& kernel,
                                 const std::vector<int64_t>& dilation) {
  std::vector<int64_t> p(kernel.size());
  for (size_t d = 0; d < kernel.size(); ++d) p[d] = dilation[d] * (kernel[d] - 1) / 2;
  return p;
}

template <size_t N>
std::vector<int64_t> padding_before(const ConvPadding<N>& padding,
                                    const std::vector<int64_t>& kernel,
                                    const std::vector<int64_t>& dilation) {
  if (padding.mode == "same") return same_before(kernel, dilation);
  if (padding.mode == "valid") return std::vector<int64_t>(N, 0);
  return vec(padding.values);
}

template <size_t N>
std::array<int64_t, N> arr(const std::vector<int64_t>& v) {
  std::array<int64_t, N> a{};
  for (size_t i = 0; i < N; ++i) a[i] = v[i];
  return a;
}

}  // namespace

// ---------------- ConvNd ----------------

ConvNd::ConvNd(std::string name, int64_t in_channels, int64_t out_channels,
               std::vector<int64_t> kernel_size, std::vector<int64_t> stride,
               std::vector<int64_t> padding, std::string padding_string,
               std::vector<int64_t> dilation, bool transposed, std::vector<int64_t> output_padding,
               int64_t groups, bool bias, std::string padding_mode)
    : Module(name),
      in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_size_(std::move(kernel_size)),
      stride_(std::move(stride)),
      padding_(std::move(padding)),
      padding_string_(std::move(padding_string)),
      dilation_(std::move(dilation)),
      transposed_(transposed),
      output_padding_(std::move(output_padding)),
      groups_(groups),
      padding_mode_(std::move(padding_mode)) {
  const std::string& n = name;
  KILN_CHECK_VALUE(groups_ > 0, n, ": groups must be a positive integer, got ", groups_);
  KILN_CHECK_VALUE(in_channels_ >= 0 && out_channels_ >= 0, n,
                   ": in_channels and out_channels must be non-negative, got ", in_channels_,
                   " and ", out_channels_);
  KILN_CHECK_VALUE(in_channels_ % groups_ == 0, n, ": in_channels must be divisible by groups (",
                   in_channels_, " and groups=", groups_, ")");
  KILN_CHECK_VALUE(out_channels_ % groups_ == 0, n, ": out_channels must be divisible by groups (",
                   out_channels_, " and groups=", groups_, ")");
  for (size_t d = 0; d < kernel_size_.size(); ++d) {
    KILN_CHECK_VALUE(kernel_size_[d] > 0, n, ": kernel_size must be positive, got ",
                     tuple_str(kernel_size_));
    KILN_CHECK_VALUE(stride_[d] > 0, n, ": stride must be positive, got ", tuple_str(stride_));
    KILN_CHECK_VALUE(dilation_[d] > 0, n, ": dilation must be positive, got ",
                     tuple_str(dilation_));
    KILN_CHECK_VALUE(padding_[d] >= 0, n, ": padding must be non-negative, got ",
                     tuple_str(padding_));
  }
  KILN_CHECK_VALUE(
      padding_string_.empty() || padding_string_ == "same" || padding_string_ == "valid", n,
      ": invalid padding string '", padding_string_, "', should be one of {'same', 'valid'}");
  KILN_CHECK_VALUE(padding_string_ != "same" || all_equal(stride_, 1), n,
                   ": padding='same' is not supported for strided convolutions (stride ",
                   tuple_str(stride_), ")");
  KILN_CHECK_VALUE(padding_mode_ == "zeros" || padding_mode_ == "reflect" ||
                       padding_mode_ == "replicate" || padding_mode_ == "circular",
                   n,
                   ": padding_mode must be one of {'zeros', 'reflect', 'replicate', "
                   "'circular'}, but got padding_mode='",
                   padding_mode_, "'");
  KILN_CHECK_VALUE(!transposed_ || padding_mode_ == "zeros", n,
                   ": only \"zeros\" padding mode is supported for ", n);

  Shape wshape = transposed_ ? Shape{in_channels_, out_channels_ / groups_}
                             : Shape{out_channels_, in_channels_ / groups_};
  wshape.insert(wshape.end(), kernel_size_.begin(), kernel_size_.end());
  weight = register_parameter("weight", empty(wshape));
  this->bias = register_parameter("bias", bias ? empty({out_channels_}) : Tensor());
  reset_parameters();
}

void ConvNd::reset_parameters() {
  // kaiming_uniform_ with a = sqrt(5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch's default.
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

std::string ConvNd::extra_repr() const {
  std::string s = std::to_string(in_channels_) + ", " + std::to_string(out_channels_) +
                  ", kernel_size=" + tuple_str(kernel_size_) + ", stride=" + tuple_str(stride_);
  // torch keeps the string and prints it unquoted: padding=same.
  if (!padding_string_.empty())
    s += ", padding=" + padding_string_;
  else if (!all_equal(padding_, 0))
    s += ", padding=" + tuple_str(padding_);
  if (!all_equal(dilation_, 1)) s += ", dilation=" + tuple_str(dilation_);
  if (!all_equal(output_padding_, 0)) s += ", output_padding=" + tuple_str(output_padding_);
  if (groups_ != 1) s += ", groups=" + std::to_string(groups_);
  if (!bias.defined()) s += ", bias=False";
  if (padding_mode_ != "zeros") s += ", padding_mode=" + padding_mode_;
  return s;
}

Tensor ConvNd::pad_input(const Tensor& x) const {
  // F.pad takes the last dim first: (last_before, last_after, second_last_before, ...).
  std::vector<int64_t> pads;
  for (size_t i = kernel_size_.size(); i-- > 0;) {
    int64_t before = padding_[i], after = padding_[i];
    if (padding_string_ == "same") after = dilation_[i] * (kernel_size_[i] - 1) - before;
    pads.push_back(before);
    pads.push_back(after);
  }
  return F::pad(x, pads, padding_mode_);
}

// ---------------- Conv2d ----------------

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, ExpandingSize<2> kernel_size,
               const Conv2dOptions& o)
    : ConvNd("Conv2d", in_channels, out_channels, vec(kernel_size.values), vec(o.stride.values),
             padding_before(o.padding, vec(kernel_size.values), vec(o.dilation.values)),
             o.padding.mode, vec(o.dilation.values), false, {0, 0}, o.groups, o.bias,
             o.padding_mode) {}

Tensor Conv2d::forward(const Tensor& x) {
  if (padding_mode_ != "zeros")
    return F::conv2d(pad_input(x), weight, bias, arr<2>(stride_), F::Size2{0, 0}, arr<2>(dilation_),
                     groups_);
  if (!padding_string_.empty())
    return F::conv2d(x, weight, bias, arr<2>(stride_), F::PaddingMode(padding_string_),
                     arr<2>(dilation_), groups_);
  return F::conv2d(x, weight, bias, arr<2>(stride_), arr<2>(padding_), arr<2>(dilation_), groups_);
}

// ---------------- Conv1d / Conv3d ----------------

Conv1d::Conv1d(int64_t in_channels, int64_t out_channels, ExpandingSize<1> kernel_size,
               const Conv1dOptions& o)
    : ConvNd("Conv1d", in_channels, out_channels, vec(kernel_size.values), vec(o.stride.values),
             padding_before(o.padding, vec(kernel_size.values), vec(o.dilation.values)),
             o.padding.mode, vec(o.dilation.values), false, {0}, o.groups, o.bias, o.padding_mode) {
}

Tensor Conv1d::forward(const Tensor& x) {
  if (padding_mode_ != "zeros")
    return F::conv1d(pad_input(x), weight, bias, stride_[0], int64_t(0), dilation_[0], groups_);
  if (!padding_string_.empty())
    return F::conv1d(x, weight, bias, stride_[0], F::PaddingMode(padding_string_), dilation_[0],
                     groups_);
  return F::conv1d(x, weight, bias, stride_[0], padding_[0], dilation_[0], groups_);
}

Conv3d::Conv3d(int64_t in_channels, int64_t out_channels, ExpandingSize<3> kernel_size,
               const Conv3dOptions& o)
    : ConvNd("Conv3d", in_channels, out_channels, vec(kernel_size.values), vec(o.stride.values),
             padding_before(o.padding, vec(kernel_size.values), vec(o.dilation.values)),
             o.padding.mode, vec(o.dilation.values), false, {0, 0, 0}, o.groups, o.bias,
             o.padding_mode) {}

Tensor Conv3d::forward(const Tensor& x) {
  if (padding_mode_ != "zeros")
    return F::conv3d(pad_input(x), weight, bias, arr<3>(stride_), F::Size3{0, 0, 0},
                     arr<3>(dilation_), groups_);
  if (!padding_string_.empty())
    return F::conv3d(x, weight, bias, arr<3>(stride_), F::PaddingMode(padding_string_),
                     arr<3>(dilation_), groups_);
  return F::conv3d(x, weight, bias, arr<3>(stride_), arr<3>(padding_), arr<3>(dilation_), groups_);
}

// ---------------- ConvTranspose2d ----------------

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels,
                                 ExpandingSize<2> kernel_size, const ConvTranspose2dOptions& o)
    : ConvNd("ConvTranspose2d", in_channels, out_channels, vec(kernel_size.values),
             vec(o.stride.values), vec(o.padding.values), "", vec(o.dilation.values), true,
             vec(o.output_padding.values), o.groups, o.bias, o.padding_mode) {}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return F::conv_transpose2d(x, weight, bias, arr<2>(stride_), arr<2>(padding_),
                             arr<2>(output_padding_), groups_, arr<2>(dilation_));
}

Tensor ConvTranspose2d::forward(const Tensor& x, const std::vector<int64_t>& output_size) {
  // torch's _output_padding: the requested size minus the smallest one the input gives.
  KILN_CHECK(x.defined(), "ConvTranspose2d: the input is undefined");
  KILN_CHECK_VALUE(x.dim() >= 3, "ConvTranspose2d: expected a 3-D or 4-D input, got ",
                   shape_str(x.shape()));
  const int64_t non_spatial = x.dim() == 4 ? 2 : 1;
  std::vector<int64_t> size = output_size;
  if (int64_t(size.size()) == non_spatial + 2) size.erase(size.begin(), size.begin() + non_spatial);
  KILN_CHECK_VALUE(size.size() == 2, "ConvTranspose2d: for ", x.dim(),
                   "D input, output_size must have 2 or ", non_spatial + 2, " elements (got ",
                   output_size.size(), ")");
  std::vector<int64_t> min_sizes(2), max_sizes(2), extra(2);
  for (size_t d = 0; d < 2; ++d) {
    min_sizes[d] = (x.size(x.dim() - 2 + int64_t(d)) - 1) * stride_[d] - 2 * padding_[d] +
                   dilation_[d] * (kernel_size_[d] - 1) + 1;
    max_sizes[d] = min_sizes[d] + stride_[d] - 1;
  }
  for (size_t d = 0; d < 2; ++d) {
    KILN_CHECK_VALUE(size[d] >= min_sizes[d] && size[d] <= max_sizes[d],
                     "ConvTranspose2d: requested an output size of ", tuple_str(size),
                     ", but valid sizes range from ", tuple_str(min_sizes), " to ",
                     tuple_str(max_sizes), " (for an input of ", shape_str(x.shape()), ")");
    extra[d] = size[d] - min_sizes[d];
  }
  return F::conv_transpose2d(x, weight, bias, arr<2>(stride_), arr<2>(padding_), arr<2>(extra),
                             groups_, arr<2>(dilation_));
}

}  // namespace kiln::nn
