#pragma once
// Convolution modules (torch.nn.Conv1d, Conv2d, Conv3d, ConvTranspose2d; PyTorch 1.13): the
// parameters weight [out_channels, in_channels / groups, *kernel_size] (transposed:
// [in_channels, out_channels / groups, *kernel_size]) and bias [out_channels], named, shaped and
// initialised as torch's (weight: kaiming_uniform_(a = sqrt(5)); bias: U(-1/sqrt(fan_in),
// 1/sqrt(fan_in)), fan_in from the weight), so state_dicts move between Kiln and PyTorch. The
// reprs are torch's ("Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))").
//
// Options are a struct with torch's defaults, written with designated initialisers:
//   nn::Conv2d(3, 64, 3, {.stride = 2, .padding = 1, .bias = false})
//   nn::Conv2d(16, 16, {3, 5}, {.padding = "same", .groups = 16, .padding_mode = "reflect"})
// A size is one number for every spatial dim or one per dim ({3, 5}); padding is also "same" or
// "valid". padding_mode "zeros" | "reflect" | "replicate" | "circular"; the non-zero modes pad
// the input with nn::functional::pad and run an unpadded convolution, as torch does.
#include <array>
#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "kiln/nn/conv.h"
#include "kiln/nn/module.h"
#include "kiln/tensor.h"

namespace kiln::nn {

// N numbers, written as one number (repeated) or as N numbers (torch's _ntuple).
template <size_t N>
struct ExpandingSize {
  std::array<int64_t, N> values{};
  template <std::integral I>
  ExpandingSize(I v) {  // NOLINT(google-explicit-constructor)
    values.fill(int64_t(v));
  }
  ExpandingSize(std::array<int64_t, N> v) : values(v) {}  // NOLINT(google-explicit-*)
  template <class... I>
  requires(N > 1 && sizeof...(I) == N && (std::is_integral_v<I> && ...)) ExpandingSize(I... v)
      : values{int64_t(v)...} {}  // NOLINT(google-explicit-*)
  int64_t operator[](size_t i) const { return values[i]; }
};

// Numeric padding (one number or N), or "same" / "valid".
template <size_t N>
struct ConvPadding {
  std::array<int64_t, N> values{};
  std::string mode;  // "" for numeric padding, else "same" or "valid"
  // A template so that a literal 0 means zero padding, not a null const char*.
  template <std::integral I>
  ConvPadding(I v) {  // NOLINT(google-explicit-constructor)
    values.fill(int64_t(v));
  }
  ConvPadding(std::array<int64_t, N> v) : values(v) {}  // NOLINT(google-explicit-*)
  template <class... I>
  requires(N > 1 && sizeof...(I) == N && (std::is_integral_v<I> && ...)) ConvPadding(I... v)
      : values{int64_t(v)...} {}                      // NOLINT(google-explicit-*)
  ConvPadding(const char* m) : mode(m) {}             // NOLINT(google-explicit-*)
  ConvPadding(std::string m) : mode(std::move(m)) {}  // NOLINT(google-explicit-*)
};

// torch's Conv{1,2,3}d keyword arguments and defaults.
template <size_t N>
struct ConvOptions {
  ExpandingSize<N> stride = 1;
  ConvPadding<N> padding = 0;
  ExpandingSize<N> dilation = 1;
  int64_t groups = 1;
  bool bias = true;
  std::string padding_mode = "zeros";
};
using Conv1dOptions = ConvOptions<1>;
using Conv2dOptions = ConvOptions<2>;
using Conv3dOptions = ConvOptions<3>;

// torch's ConvTranspose2d keyword arguments and defaults (in torch's order). Only
// padding_mode "zeros" exists for transposed convolutions, as in torch.
struct ConvTranspose2dOptions {
  ExpandingSize<2> stride = 1;
  ExpandingSize<2> padding = 0;
  ExpandingSize<2> output_padding = 0;
  int64_t groups = 1;
  bool bias = true;
  ExpandingSize<2> dilation = 1;
  std::string padding_mode = "zeros";
};

// What every convolution module holds (torch's _ConvNd), with spatial sizes as vectors of 1-3
// entries. Subclasses add the forward of their dimensionality.
class ConvNd : public Module {
 public:
  std::string extra_repr() const override;
  // Draws fresh weights (and bias) from the default generator, as torch's reset_parameters.
  void reset_parameters();

  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  const std::vector<int64_t>& kernel_size() const { return kernel_size_; }
  const std::vector<int64_t>& stride() const { return stride_; }
  // The padding before (left / top) each spatial dim: the numbers given, zeros for "valid",
  // dilation * (kernel - 1) / 2 for "same" (whose odd remainder, if any, goes after).
  const std::vector<int64_t>& padding() const { return padding_; }
  const std::string& padding_string() const { return padding_string_; }  // "", "same", "valid"
  const std::vector<int64_t>& dilation() const { return dilation_; }
  const std::vector<int64_t>& output_padding() const { return output_padding_; }
  int64_t groups() const { return groups_; }
  const std::string& padding_mode() const { return padding_mode_; }
  bool transposed() const { return transposed_; }

  Tensor weight;
  Tensor bias;  // undefined without bias

 protected:
  ConvNd(std::string name, int64_t in_channels, int64_t out_channels,
         std::vector<int64_t> kernel_size, std::vector<int64_t> stride,
         std::vector<int64_t> padding, std::string padding_string, std::vector<int64_t> dilation,
         bool transposed, std::vector<int64_t> output_padding, int64_t groups, bool bias,
         std::string padding_mode);
  // For padding_mode != "zeros": the input padded by `padding_mode` (torch's
  // _reversed_padding_repeated_twice, 'same' splitting odd totals with the extra element
  // after), to be convolved without padding.
  Tensor pad_input(const Tensor& x) const;

  int64_t in_channels_, out_channels_;
  std::vector<int64_t> kernel_size_, stride_, padding_;
  std::string padding_string_;
  std::vector<int64_t> dilation_;
  bool transposed_;
  std::vector<int64_t> output_padding_;
  int64_t groups_;
  std::string padding_mode_;
};

class Conv1d : public ConvNd {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, ExpandingSize<1> kernel_size,
         const Conv1dOptions& options = {});
  Tensor forward(const Tensor& x) override;  // [N, C, L] or [C, L]
};

class Conv2d : public ConvNd {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, ExpandingSize<2> kernel_size,
         const Conv2dOptions& options = {});
  Tensor forward(const Tensor& x) override;  // [N, C, H, W] or [C, H, W]
};

class Conv3d : public ConvNd {
 public:
  Conv3d(int64_t in_channels, int64_t out_channels, ExpandingSize<3> kernel_size,
         const Conv3dOptions& options = {});
  Tensor forward(const Tensor& x) override;  // [N, C, D, H, W] or [C, D, H, W]
};

class ConvTranspose2d : public ConvNd {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, ExpandingSize<2> kernel_size,
                  const ConvTranspose2dOptions& options = {});
  Tensor forward(const Tensor& x) override;
  // torch's forward(input, output_size): output_size ({H, W}, or with the leading dims) picks
  // the output_padding that gives that size; it must lie within stride of the smallest size.
  Tensor forward(const Tensor& x, const std::vector<int64_t>& output_size);
  using Module::operator();
  Tensor operator()(const Tensor& x, const std::vector<int64_t>& output_size) {
    return forward(x, output_size);
  }
};

}  // namespace kiln::nn
