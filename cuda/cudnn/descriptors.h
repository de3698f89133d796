#pragma once
// RAII wrappers for cuDNN's tensor, filter and convolution descriptors, built from the plain
// descriptions of cudnn/layout.h. Internal to cuda/cudnn/.
#include <cudnn.h>

#include <array>

#include "common/check.h"
#include "cudnn/layout.h"
#include "kiln/dtype.h"

namespace kiln::cuda::cudnn {

// cuDNN's name for a Kiln floating dtype; `op` names the Kiln op in the error for others.
inline cudnnDataType_t data_type(DType t, const char* op) {
  switch (t) {
    case DType::Float32:
      return CUDNN_DATA_FLOAT;
    case DType::Float64:
      return CUDNN_DATA_DOUBLE;
    case DType::Float16:
      return CUDNN_DATA_HALF;
    case DType::BFloat16:
      return CUDNN_DATA_BFLOAT16;
    default:
      throw TypeError(::kiln::detail::concat(op, ": not implemented for ", dtype_name(t),
                                             " on CUDA (cuDNN takes floating dtypes)"));
  }
}

// The type cuDNN computes in: double for float64, float for the others (float16 and bfloat16
// accumulate in float, as the CPU's GEMM does).
inline cudnnDataType_t compute_type(DType t) {
  return t == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
}

inline std::array<int, 5> as_int(const std::array<int64_t, 5>& a) {
  std::array<int, 5> r{};
  for (size_t i = 0; i < 5; ++i) r[i] = int(a[i]);
  return r;
}

class TensorDescriptor {
 public:
  explicit TensorDescriptor(const char* op) : op_(op) {
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_), op_);
  }
  ~TensorDescriptor() { cudnnDestroyTensorDescriptor(desc_); }
  TensorDescriptor(const TensorDescriptor&) = delete;
  TensorDescriptor& operator=(const TensorDescriptor&) = delete;

  // `t`'s dims with the packed strides of `layout` (the tensor handed to cuDNN is dense in it).
  void set(cudnnDataType_t type, const TensorDims& t, Layout layout) {
    const std::array<int, 5> dims = as_int(t.dims), strides = as_int(packed_strides(t, layout));
    KILN_CUDNN_CHECK(cudnnSetTensorNdDescriptor(desc_, type, t.nd, dims.data(), strides.data()),
                     op_);
  }
  // A per-channel [1, C, 1, 1] tensor (batch norm's scale, bias and statistics).
  void set_channels(cudnnDataType_t type, int64_t c) {
    KILN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, type, 1, int(c), 1, 1),
                     op_);
  }
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
  const char* op_;
};

class FilterDescriptor {
 public:
  explicit FilterDescriptor(const char* op) : op_(op) {
    KILN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&desc_), op_);
  }
  ~FilterDescriptor() { cudnnDestroyFilterDescriptor(desc_); }
  FilterDescriptor(const FilterDescriptor&) = delete;
  FilterDescriptor& operator=(const FilterDescriptor&) = delete;

  // Filters are packed: their layout is a format, not strides.
  void set(cudnnDataType_t type, const TensorDims& t, Layout layout) {
    const std::array<int, 5> dims = as_int(t.dims);
    const cudnnTensorFormat_t format =
        layout == Layout::NHWC ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    KILN_CUDNN_CHECK(cudnnSetFilterNdDescriptor(desc_, type, format, t.nd, dims.data()), op_);
  }
  cudnnFilterDescriptor_t get() const { return desc_; }

 private:
  cudnnFilterDescriptor_t desc_ = nullptr;
  const char* op_;
};

class ConvolutionDescriptor {
 public:
  explicit ConvolutionDescriptor(const char* op) : op_(op) {
    KILN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&desc_), op_);
  }
  ~ConvolutionDescriptor() { cudnnDestroyConvolutionDescriptor(desc_); }
  ConvolutionDescriptor(const ConvolutionDescriptor&) = delete;
  ConvolutionDescriptor& operator=(const ConvolutionDescriptor&) = delete;

  // A cross-correlation (torch's convolution) over nd - 2 spatial dims.
  void set(const ConvProblem& p, cudnnDataType_t compute) {
    const int n = p.nd - 2;
    std::array<int, 3> pad{}, stride{}, dilation{};
    for (size_t i = 0; i < size_t(n); ++i) {
      pad[i] = int(p.padding[i]);
      stride[i] = int(p.stride[i]);
      dilation[i] = int(p.dilation[i]);
    }
    KILN_CUDNN_CHECK(
        cudnnSetConvolutionNdDescriptor(desc_, n, pad.data(), stride.data(), dilation.data(),
                                        CUDNN_CROSS_CORRELATION, compute),
        op_);
    KILN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(desc_, int(p.groups)), op_);
    set_math(cudnnMathType_t(p.math));
  }
  void set_math(cudnnMathType_t math) {
    KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(desc_, math), op_);
  }
  cudnnConvolutionDescriptor_t get() const { return desc_; }

 private:
  cudnnConvolutionDescriptor_t desc_ = nullptr;
  const char* op_;
};

}  // namespace kiln::cuda::cudnn
