// Batch normalisation on CUDA: cuDNN's legacy batch norm where it applies, Kiln's own kernels
// (kernels/batch_norm.cu) elsewhere; both follow the CPU reference (src/cpu/batch_norm.cpp).
//
// cuDNN (cudnnBatchNormalizationForwardTraining / ForwardInference / Backward) takes x as
// [N, C, S, 1] in NCHW or NHWC (cudnn/layout.h), float32 or float16 data with float32 scale,
// bias and statistics, or float64 throughout, and an epsilon >= CUDNN_BN_MIN_EPSILON. Its
// running variance is the unbiased one and exponentialAverageFactor is the momentum, as
// torch's; resultSaveMean / resultSaveInvVariance are save_mean and save_invstd (1 / sqrt(biased
// variance + eps)), the same quantities Kiln's kernels produce, so either implementation's
// forward pairs with either backward. The mode is CUDNN_BATCHNORM_SPATIAL throughout: torch
// uses CUDNN_BATCHNORM_SPATIAL_PERSISTENT for channels-last training, faster but with "some
// limits on the range of values" (cuDNN), so not adopted before it is measured on a GPU.
//
// Kiln's kernels run for bfloat16 (torch does not give cuDNN bfloat16 either), an epsilon below
// the minimum, batches above cuDNN's limits (880801 samples in training, 65535 in evaluation, as
// torch) or of 2^31 elements, operands that are not all dense in one layout and 16-byte
// aligned, running statistics given one without the other, no dx wanted, a configuration cuDNN
// declines (CUDNN_STATUS_NOT_SUPPORTED before it starts), and whenever cuDNN is switched off.
#include <atomic>
#include <cstdint>

#include "common/check.h"
#include "cudnn/batch_norm.h"
#include "cudnn/descriptors.h"
#include "cudnn/handle.h"
#include "cudnn/layout.h"
#include "kernels/batch_norm.h"
#include "kernels/kernels.h"
#include "kernels/reduce_util.cuh"
#include "kiln/cuda.h"
#include "kiln/ops.h"
#include "runtime/device.h"

namespace kiln::cuda {
namespace cudnn {
namespace {

std::atomic<int64_t> g_cudnn_forward{0}, g_cudnn_backward{0}, g_native_forward{0},
    g_native_backward{0};

constexpr int64_t kMaxTrainingBatch = 880801;
constexpr int64_t kMaxEvalBatch = 65535;
constexpr uintptr_t kAlignment = 16;

DType stats_dtype(DType x) {
  return x == DType::Float16 || x == DType::BFloat16 ? DType::Float32 : x;
}

// The per-channel tensors' contract (as the CPU's): [C] elements, contiguous, of the
// statistics dtype, on x's device.
void check_channel(const char* op, const Tensor& t, const char* what, const Tensor& x) {
  if (!t.defined()) return;
  const DType sd = stats_dtype(x.dtype());
  KILN_CHECK(
      t.numel() == x.size(1) && t.is_contiguous() && t.dtype() == sd && t.device() == x.device(),
      op, ": ", what, " must be a contiguous ", dtype_name(sd), " tensor of ", x.size(1),
      " elements on ", x.device().str(), ", got shape ", shape_str(t.shape()), " ",
      dtype_name(t.dtype()), " on ", t.device().str());
}

void check_data(const char* op, const Tensor& x, const Tensor& other, const char* what) {
  KILN_CHECK(
      other.shape() == x.shape() && other.dtype() == x.dtype() && other.device() == x.device(), op,
      ": expected ", what, " of x's shape, dtype and device (", shape_str(x.shape()), " ",
      dtype_name(x.dtype()), " on ", x.device().str(), "), got ", shape_str(other.shape()), " ",
      dtype_name(other.dtype()), " on ", other.device().str());
}

bool aligned(const Tensor& t) {
  return reinterpret_cast<uintptr_t>(t.data_ptr()) % kAlignment == 0;
}

// The layout every one of `ts` is dense in (NCHW preferred), or false when there is none.
bool common_layout(std::initializer_list<const Tensor*> ts, Layout& layout) {
  for (Layout l : {Layout::NCHW, Layout::NHWC}) {
    bool all = true;
    for (const Tensor* t : ts) all = all && is_dense(t->shape(), t->strides(), l) && aligned(*t);
    if (all) {
      layout = l;
      return true;
    }
  }
  return false;
}

// What cuDNN's batch norm takes whatever the layout: the dtype, the size limits, epsilon.
bool cudnn_takes(const Tensor& x, double eps, int64_t max_batch) {
  const DType t = x.dtype();
  return cudnn_enabled() && (t == DType::Float32 || t == DType::Float64 || t == DType::Float16) &&
         x.numel() > 0 && x.numel() < int64_t(0x7fffffff) && x.size(0) <= max_batch &&
         eps >= CUDNN_BN_MIN_EPSILON;
}

// The scale/bias/statistics descriptor's data type: float, or double for float64.
cudnnDataType_t param_type(DType x) {
  return x == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
}

// `t`, or a [C] tensor of the statistics dtype filled with `value` (cuDNN needs a scale and a
// bias even when the op has none).
Tensor or_filled(const Tensor& t, const Tensor& x, double value) {
  if (t.defined()) return t;
  Tensor f = kiln::empty({x.size(1)}, TensorOptions(stats_dtype(x.dtype()), x.device()));
  cuda::fill(f, Scalar(value));
  return f;
}

// `t`, or [C] scratch of the statistics dtype for a gradient nobody asked for.
Tensor or_scratch(const Tensor& t, const Tensor& x) {
  if (t.defined()) return t;
  return kiln::empty({x.size(1)}, TensorOptions(stats_dtype(x.dtype()), x.device()));
}

// Scaling factors in host memory: double for float64 data, float otherwise.
struct Blend {
  float f[2] = {1.0f, 0.0f};
  double d[2] = {1.0, 0.0};
  bool f64;
  explicit Blend(DType t) : f64(t == DType::Float64) {}
  const void* one() const { return f64 ? static_cast<const void*>(&d[0]) : &f[0]; }
  const void* zero() const { return f64 ? static_cast<const void*>(&d[1]) : &f[1]; }
};

// Runs cuDNN's forward; false when cuDNN declined the configuration (nothing written).
bool cudnn_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                   const Tensor& running_mean, const Tensor& running_var, const BatchNormArgs& args,
                   const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                   Layout layout) {
  const char* op = "batch_norm";
  const int device = x.device().index;
  DeviceGuard guard(device);
  const cudnnHandle_t h = handle(device, op);
  const TensorDims dims = batch_norm_dims(x.shape(), layout);
  TensorDescriptor xd(op), pd(op);
  xd.set(data_type(x.dtype(), op), dims, layout);
  pd.set_channels(param_type(x.dtype()), x.size(1));
  const Tensor w = or_filled(weight, x, 1.0), b = or_filled(bias, x, 0.0);
  const Blend blend(x.dtype());
  cudnnStatus_t status;
  if (args.training) {
    const bool running = running_mean.defined();
    status = cudnnBatchNormalizationForwardTraining(
        h, CUDNN_BATCHNORM_SPATIAL, blend.one(), blend.zero(), xd.get(), x.data_ptr(), xd.get(),
        y.data_ptr(), pd.get(), w.data_ptr(), b.data_ptr(), args.momentum,
        running ? running_mean.data_ptr() : nullptr, running ? running_var.data_ptr() : nullptr,
        args.eps, save_mean.data_ptr(), save_invstd.data_ptr());
  } else {
    status = cudnnBatchNormalizationForwardInference(
        h, CUDNN_BATCHNORM_SPATIAL, blend.one(), blend.zero(), xd.get(), x.data_ptr(), xd.get(),
        y.data_ptr(), pd.get(), w.data_ptr(), b.data_ptr(), running_mean.data_ptr(),
        running_var.data_ptr(), args.eps);
  }
  if (status == CUDNN_STATUS_NOT_SUPPORTED) return false;
  KILN_CUDNN_CHECK(status, op);
  return true;
}

bool cudnn_backward(const Tensor& x, const Tensor& dy, const Tensor& weight,
                    const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                    const Tensor& dweight, const Tensor& dbias, Layout layout) {
  const char* op = "batch_norm_backward";
  const int device = x.device().index;
  DeviceGuard guard(device);
  const cudnnHandle_t h = handle(device, op);
  const TensorDims dims = batch_norm_dims(x.shape(), layout);
  TensorDescriptor xd(op), pd(op);
  xd.set(data_type(x.dtype(), op), dims, layout);
  pd.set_channels(param_type(x.dtype()), x.size(1));
  const Tensor w = or_filled(weight, x, 1.0);
  const Tensor dw = or_scratch(dweight, x), db = or_scratch(dbias, x);
  const Blend blend(x.dtype());
  // With the saved statistics cuDNN does not recompute the variance, so epsilon (which the
  // Backend contract does not carry to the backward) only has to be a valid value.
  const double eps = CUDNN_BN_MIN_EPSILON > 1e-5 ? CUDNN_BN_MIN_EPSILON : 1e-5;
  const cudnnStatus_t status = cudnnBatchNormalizationBackward(
      h, CUDNN_BATCHNORM_SPATIAL, blend.one(), blend.zero(), blend.one(), blend.zero(), xd.get(),
      x.data_ptr(), xd.get(), dy.data_ptr(), xd.get(), dx.data_ptr(), pd.get(), w.data_ptr(),
      dw.data_ptr(), db.data_ptr(), eps, save_mean.data_ptr(), save_invstd.data_ptr());
  if (status == CUDNN_STATUS_NOT_SUPPORTED) return false;
  KILN_CUDNN_CHECK(status, op);
  return true;
}

}  // namespace

BatchNormStats batch_norm_stats() {
  return BatchNormStats{g_cudnn_forward.load(), g_cudnn_backward.load(), g_native_forward.load(),
                        g_native_backward.load()};
}

}  // namespace cudnn

void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Tensor& running_mean, const Tensor& running_var,
                        const BatchNormArgs& args, const Tensor& y, const Tensor& save_mean,
                        const Tensor& save_invstd) {
  const char* op = "batch_norm";
  KILN_CHECK(x.defined() && y.defined() && x.dim() >= 2 && x.device().is_cuda(), op,
             ": expected x [N, C, *] on a CUDA device and y, got ",
             x.defined() ? shape_str(x.shape()) : std::string("an undefined x"));
  KILN_CHECK(is_floating(x.dtype()), op, ": not implemented for ", dtype_name(x.dtype()),
             " on CUDA");
  cudnn::check_data(op, x, y, "y");
  for (const auto& [t, what] : {std::pair<const Tensor&, const char*>{weight, "weight"},
                                {bias, "bias"},
                                {running_mean, "running_mean"},
                                {running_var, "running_var"},
                                {save_mean, "save_mean"},
                                {save_invstd, "save_invstd"}})
    cudnn::check_channel(op, t, what, x);
  if (args.training) {
    KILN_CHECK(save_mean.defined() && save_invstd.defined(), op,
               ": training needs save_mean and save_invstd");
  } else {
    KILN_CHECK(running_mean.defined() && running_var.defined(), op,
               ": evaluation needs running_mean and running_var");
  }
  cudnn::Layout layout = cudnn::Layout::NCHW;
  const bool runnings_match = running_mean.defined() == running_var.defined();
  if (runnings_match &&
      cudnn::cudnn_takes(x, args.eps,
                         args.training ? cudnn::kMaxTrainingBatch : cudnn::kMaxEvalBatch) &&
      cudnn::common_layout({&x, &y}, layout) &&
      cudnn::cudnn_forward(x, weight, bias, running_mean, running_var, args, y, save_mean,
                           save_invstd, layout)) {
    ++cudnn::g_cudnn_forward;
    return;
  }
  ++cudnn::g_native_forward;
  batch_norm_forward_native(x, weight, bias, running_mean, running_var, args, y, save_mean,
                            save_invstd);
}

void batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor& weight,
                         const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                         const Tensor& dweight, const Tensor& dbias) {
  const char* op = "batch_norm_backward";
  KILN_CHECK(x.defined() && dy.defined() && x.dim() >= 2 && x.device().is_cuda(), op,
             ": expected x [N, C, *] on a CUDA device and dy, got ",
             x.defined() ? shape_str(x.shape()) : std::string("an undefined x"));
  KILN_CHECK(is_floating(x.dtype()), op, ": not implemented for ", dtype_name(x.dtype()),
             " on CUDA");
  cudnn::check_data(op, x, dy, "dy");
  if (dx.defined()) cudnn::check_data(op, x, dx, "dx");
  KILN_CHECK(save_mean.defined() && save_invstd.defined(), op,
             ": needs the save_mean and save_invstd of the training forward");
  for (const auto& [t, what] : {std::pair<const Tensor&, const char*>{weight, "weight"},
                                {save_mean, "save_mean"},
                                {save_invstd, "save_invstd"},
                                {dweight, "dweight"},
                                {dbias, "dbias"}})
    cudnn::check_channel(op, t, what, x);
  cudnn::Layout layout = cudnn::Layout::NCHW;
  if (dx.defined() && cudnn::cudnn_takes(x, CUDNN_BN_MIN_EPSILON, cudnn::kMaxTrainingBatch) &&
      cudnn::common_layout({&x, &dy, &dx}, layout) &&
      cudnn::cudnn_backward(x, dy, weight, save_mean, save_invstd, dx, dweight, dbias, layout)) {
    ++cudnn::g_cudnn_backward;
    return;
  }
  ++cudnn::g_native_backward;
  batch_norm_backward_native(x, dy, weight, save_mean, save_invstd, dx, dweight, dbias);
}

}  // namespace kiln::cuda
