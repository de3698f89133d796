// Matrix products on CUDA: bmm and the fused linear through cuBLASLt, integer products with a
// tiled kernel. The CPU reference is src/cpu/blas.cpp; the semantics are its own:
//   - float32 computes in float32 (CUBLAS_COMPUTE_32F), or with TF32 tensor cores when
//     kiln::cuda::allow_tf32() is on; float64 in float64; float16/bfloat16 accumulate in float32
//     (split-K partial sums too: reductions in the output type are excluded) and round once.
//   - integers accumulate in 64 bits with wrap-around; K == 0 gives zeros (an empty sum).
//   - linear = act(x @ weight^T + bias) with cuBLASLt's epilogues. cuBLASLt's GELU epilogue is
//     the tanh approximation, so Activation::Gelu means gelu(x, "tanh") here and in cpu::linear
//     (Kiln's default gelu is the exact erf form). cuBLASLt's ReLU is max(x, 0), which maps NaN
//     to 0 (Kiln's relu keeps NaN); cpu::linear and the fallback below do the same. When cuBLASLt
//     offers no algorithm with the epilogue (a dtype without it), the product goes to a
//     float32/float64 buffer and a small kernel adds the bias, applies the activation and rounds
//     once, as the CPU does.
// Operands with any strides are used in place when one of their two matrix strides is unit
// (row- or column-major, batch stride anything including 0); others are copied (blas/layout.h).
#include <cublasLt.h>

#include <array>
#include <climits>
#include <map>
#include <mutex>

// First: dtype.cuh names detail::concat unqualified, which must not find kiln::cuda::detail
// (declared by common/check.h).
#include "common/dtype.cuh"
//
#include "blas/layout.h"
#include "blas/lt.h"
#include "common/check.h"
#include "common/launch.cuh"
#include "kernels/kernels.h"
#include "kiln/cuda.h"
#include "kiln/ops.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace {

cudaDataType_t lt_type(DType t) {
  switch (t) {
    case DType::Float32:
      return CUDA_R_32F;
    case DType::Float64:
      return CUDA_R_64F;
    case DType::Float16:
      return CUDA_R_16F;
    case DType::BFloat16:
      return CUDA_R_16BF;
    default:
      throw TypeError(
          ::kiln::detail::concat("matmul: cuBLASLt has no ", dtype_name(t), " product"));
  }
}

bool is_reduced(DType t) { return t == DType::Float16 || t == DType::BFloat16; }

// One operand as cuBLASLt sees it, with the tensor that owns its memory (the argument itself,
// or a contiguous copy of it).
struct Operand {
  Tensor t;
  blas::LtOperand lt;
  int64_t batch_stride = 0;  // elements; 0 for a single matrix or a broadcast batch
  bool copied = false;
};

// A fresh contiguous copy (a new allocation, so 256-byte aligned), without autograd history.
Tensor contiguous_copy(const Tensor& t) {
  Tensor c = empty(t.shape(), TensorOptions(t.dtype(), t.device()));
  cuda::copy(t, c);
  return c;
}

// The logical row-major matrix of `t` ([B, R, C] or [R, C]; `swap` uses the last two dims
// transposed, for weight^T) as a cuBLASLt operand; copies `t` when its strides do not map, or
// when `force_copy` asks for an aligned contiguous copy.
Operand make_operand(const Tensor& t, bool swap, bool force_copy) {
  Operand o;
  o.t = force_copy ? contiguous_copy(t) : t;
  o.copied = force_copy;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int64_t d = o.t.dim();
    int64_t r = o.t.size(d - 2), c = o.t.size(d - 1);
    int64_t sr = o.t.stride(d - 2), sc = o.t.stride(d - 1);
    if (swap) {
      std::swap(r, c);
      std::swap(sr, sc);
    }
    o.batch_stride = d == 3 && o.t.size(0) > 1 ? o.t.stride(0) : 0;
    if (blas::lt_operand(r, c, sr, sc, o.lt)) return o;
    o.t = contiguous_copy(o.t);
    o.copied = true;
  }
  throw Error("matmul: internal error: a contiguous operand did not map to cuBLASLt");
}

// One cuBLASLt product D = A @ B in Kiln's row-major terms (see blas/layout.h): a is [M, K],
// b is [K, N], d is [M, N] contiguous of d_type, all with `batch` matrices.
struct Gemm {
  int device = 0;
  DType in = DType::Float32, d_type = DType::Float32;
  int64_t batch = 1, m = 0, n = 0, k = 0;
  const Operand* a = nullptr;
  const Operand* b = nullptr;
  void* d = nullptr;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;  // N elements of `in`, unit stride
};

cublasComputeType_t compute_type(DType in) {
  if (in == DType::Float64) return CUBLAS_COMPUTE_64F;
  if (in == DType::Float32 && allow_tf32()) return CUBLAS_COMPUTE_32F_FAST_TF32;
  return CUBLAS_COMPUTE_32F;
}

// The heuristic's choice per problem; nullopt-like `found == false` caches "no algorithm".
struct CachedAlgo {
  bool found = false;
  cublasLtMatmulAlgo_t algo{};
};
using AlgoKey = std::array<int64_t, 28>;

std::mutex& algo_mutex() {
  static std::mutex m;
  return m;
}
std::map<AlgoKey, CachedAlgo>& algo_cache() {
  static auto& cache = *new std::map<AlgoKey, CachedAlgo>();  // never destroyed, as lt.h says
  return cache;
}
// Real programs use a handful of shapes; a program sweeping shapes must not grow it forever.
constexpr size_t kMaxCachedAlgos = 4096;

// RAII for the cuBLASLt descriptors of one call.
struct LtDescriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  LtDescriptors() = default;
  LtDescriptors(const LtDescriptors&) = delete;
  LtDescriptors& operator=(const LtDescriptors&) = delete;
  ~LtDescriptors() {
    if (pref != nullptr) cublasLtMatmulPreferenceDestroy(pref);
    if (d != nullptr) cublasLtMatrixLayoutDestroy(d);
    if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
    if (a != nullptr) cublasLtMatrixLayoutDestroy(a);
    if (op != nullptr) cublasLtMatmulDescDestroy(op);
  }
};

template <class V>
void set_layout(cublasLtMatrixLayout_t layout, cublasLtMatrixLayoutAttribute_t attr, V value,
                const char* op) {
  KILN_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout, attr, &value, sizeof(value)), op);
}

void make_layout(cublasLtMatrixLayout_t* layout, DType t, int64_t rows, int64_t cols, int64_t ld,
                 int64_t batch, int64_t batch_stride, const char* op) {
  KILN_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(layout, lt_type(t), uint64_t(rows), uint64_t(cols), ld), op);
  if (batch > 1) {
    set_layout(*layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, int32_t(batch), op);
    set_layout(*layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, batch_stride, op);
  }
}

// Runs the product; false (nothing enqueued) when cuBLASLt has no algorithm for it.
bool try_lt_matmul(const Gemm& g, const char* op) {
  const blas::LtContext ctx = blas::lt_context(g.device, op);
  cudaStream_t stream = compute_stream(g.device);
  const cublasComputeType_t compute = compute_type(g.in);
  const bool f64 = g.in == DType::Float64;
  // In cuBLASLt's terms (blas/layout.h): A is our b, B is our a, D is [N, M] column-major.
  const blas::LtOperand& la = g.b->lt;
  const blas::LtOperand& lb = g.a->lt;
  const int64_t in_size = int64_t(element_size(g.in)), d_size = int64_t(element_size(g.d_type));
  const uint32_t align_a =
      blas::alignment_of(uint64_t(g.b->t.data_ptr()), uint64_t(g.b->batch_stride * in_size));
  const uint32_t align_b =
      blas::alignment_of(uint64_t(g.a->t.data_ptr()), uint64_t(g.a->batch_stride * in_size));
  const uint32_t align_d = blas::alignment_of(uint64_t(g.d), uint64_t(g.m * g.n * d_size));
  const uint32_t align_bias = blas::alignment_of(uint64_t(g.bias));

  LtDescriptors desc;
  KILN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc.op, compute, f64 ? CUDA_R_64F : CUDA_R_32F), op);
  const int32_t trans_a = la.transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int32_t trans_b = lb.transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
  KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a,
                                                   sizeof(trans_a)),
                    op);
  KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b,
                                                   sizeof(trans_b)),
                    op);
  if (g.epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                     &g.epilogue, sizeof(g.epilogue)),
                      op);
  }
  if (g.bias != nullptr) {
    // The bias has the output's type, cuBLASLt's default for non-integer products.
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                     &g.bias, sizeof(g.bias)),
                      op);
  }
  make_layout(&desc.a, g.in, la.rows, la.cols, la.ld, g.batch, g.b->batch_stride, op);
  make_layout(&desc.b, g.in, lb.rows, lb.cols, lb.ld, g.batch, g.a->batch_stride, op);
  make_layout(&desc.d, g.d_type, g.n, g.m, g.n, g.batch, g.m * g.n, op);

  const AlgoKey key{g.device,
                    int64_t(g.in),
                    int64_t(g.d_type),
                    int64_t(compute),
                    int64_t(g.epilogue),
                    g.bias != nullptr,
                    align_bias,
                    g.batch,
                    g.m,
                    g.n,
                    g.k,
                    la.transpose,
                    la.rows,
                    la.cols,
                    la.ld,
                    g.b->batch_stride,
                    lb.transpose,
                    lb.rows,
                    lb.cols,
                    lb.ld,
                    g.a->batch_stride,
                    align_a,
                    align_b,
                    align_d,
                    int64_t(ctx.workspace_bytes),
                    0,
                    0,
                    0};
  CachedAlgo chosen;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(algo_mutex());
    auto it = algo_cache().find(key);
    if (it != algo_cache().end()) {
      chosen = it->second;
      cached = true;
    }
  }
  if (!cached) {
    KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&desc.pref), op);
    const uint64_t workspace = ctx.workspace_bytes;
    KILN_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(desc.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &workspace, sizeof(workspace)),
        op);
    const std::array<std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t>, 4> aligns{
        {{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a},
         {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b},
         {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_d},
         {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_d}}};
    for (const auto& [attr, value] : aligns) {
      KILN_CUBLAS_CHECK(
          cublasLtMatmulPreferenceSetAttribute(desc.pref, attr, &value, sizeof(value)), op);
    }
    if (is_reduced(g.d_type)) {
      // Split-K partial sums stay in float32: reducing them in float16/bfloat16 (in place in
      // the output or in an output-typed workspace) would round more often than the CPU does.
      const uint32_t mask = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
      KILN_CUBLAS_CHECK(
          cublasLtMatmulPreferenceSetAttribute(
              desc.pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &mask, sizeof(mask)),
          op);
    }
    cublasLtMatmulHeuristicResult_t result{};
    int count = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
        ctx.handle, desc.op, desc.a, desc.b, desc.d, desc.d, desc.pref, 1, &result, &count);
    // NOT_SUPPORTED: no kernel for this combination (an epilogue for this dtype, say).
    // INVALID_VALUE: a layout this cuBLASLt refuses (a batch stride of 0, an odd ld); the
    // caller then falls back to the plain product or to contiguous copies.
    if (status != CUBLAS_STATUS_NOT_SUPPORTED && status != CUBLAS_STATUS_INVALID_VALUE) {
      KILN_CUBLAS_CHECK(status, op);
    }
    chosen.found =
        status == CUBLAS_STATUS_SUCCESS && count > 0 && result.state == CUBLAS_STATUS_SUCCESS;
    if (chosen.found) chosen.algo = result.algo;
    std::lock_guard<std::mutex> lock(algo_mutex());
    if (algo_cache().size() >= kMaxCachedAlgos) algo_cache().clear();
    algo_cache()[key] = chosen;
  }
  if (!chosen.found) return false;

  const float alpha_f = 1.0f, beta_f = 0.0f;
  const double alpha_d = 1.0, beta_d = 0.0;
  const void* alpha = f64 ? static_cast<const void*>(&alpha_d) : &alpha_f;
  const void* beta = f64 ? static_cast<const void*>(&beta_d) : &beta_f;
  // beta == 0: C is not read; it is D itself so that its layout and type are D's.
  KILN_CUBLAS_CHECK(cublasLtMatmul(ctx.handle, desc.op, alpha, g.b->t.data_ptr(), desc.a,
                                   g.a->t.data_ptr(), desc.b, beta, g.d, desc.d, g.d, desc.d,
                                   &chosen.algo, ctx.workspace, ctx.workspace_bytes, stream),
                    op);
  return true;
}

// The product with the default epilogue; retries once with aligned contiguous copies of the
// operands (the heuristic may have nothing for an odd view) before giving up.
void lt_matmul(Gemm g, Operand& a, Operand& b, bool swap_b, const char* op) {
  g.a = &a;
  g.b = &b;
  if (try_lt_matmul(g, op)) return;
  if (!a.copied || !b.copied) {
    Operand a2 = a.copied ? a : make_operand(a.t, false, true);
    Operand b2 = b.copied ? b : make_operand(b.t, swap_b, true);
    g.a = &a2;
    g.b = &b2;
    if (try_lt_matmul(g, op)) return;
  }
  throw Error(::kiln::detail::concat(op, ": cuBLASLt has no algorithm for a ", dtype_name(g.in),
                                     " product of [", g.batch, ", ", g.m, ", ", g.k, "] and [",
                                     g.batch, ", ", g.k, ", ", g.n, "]"));
}

// ---- integer products: exact in 64 bits with wrap-around, like the CPU ----

constexpr int kTile = 16;  // kTile x kTile outputs per block of kBlockSize == kTile^2 threads
static_assert(kTile * kTile == kBlockSize);

struct IntGeometry {
  int64_t batch, m, n, k;
  int64_t sab, sar, sac;  // a's strides (batch, row, column)
  int64_t sbb, sbr, sbc;
  int64_t tiles_m, tiles_n;
};

template <class T>
__global__ void __launch_bounds__(kBlockSize)
    bmm_integer_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                       IntGeometry g) {
  __shared__ uint64_t ta[kTile][kTile];
  __shared__ uint64_t tb[kTile][kTile + 1];  // +1: no bank conflicts on the column reads
  const int tx = int(threadIdx.x) % kTile, ty = int(threadIdx.x) / kTile;
  const int64_t tiles = g.batch * g.tiles_m * g.tiles_n;
  // Block-uniform loop (the tile depends on blockIdx only), so the barriers are safe.
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t bi = tile / (g.tiles_m * g.tiles_n);
    const int64_t rest = tile - bi * g.tiles_m * g.tiles_n;
    const int64_t row = (rest / g.tiles_n) * kTile + ty;
    const int64_t col = (rest % g.tiles_n) * kTile + tx;
    const T* pa = a + bi * g.sab;
    const T* pb = b + bi * g.sbb;
    uint64_t acc = 0;
    for (int64_t p0 = 0; p0 < g.k; p0 += kTile) {
      const int64_t pa_col = p0 + tx, pb_row = p0 + ty;
      ta[ty][tx] = row < g.m && pa_col < g.k ? uint64_t(int64_t(pa[row * g.sar + pa_col * g.sac]))
                                             : uint64_t(0);
      tb[ty][tx] = pb_row < g.k && col < g.n ? uint64_t(int64_t(pb[pb_row * g.sbr + col * g.sbc]))
                                             : uint64_t(0);
      __syncthreads();
#pragma unroll
      for (int q = 0; q < kTile; ++q) acc += ta[ty][q] * tb[q][tx];
      __syncthreads();
    }
    if (row < g.m && col < g.n) {
      T* o = out + (bi * g.m + row) * g.n + col;
      if constexpr (std::is_same_v<T, bool>)
        *o = acc != 0;
      else
        *o = T(int64_t(acc));
    }
  }
}

template <class T>
void bmm_integer(const Tensor& a, const Tensor& b, const Tensor& out, cudaStream_t stream) {
  IntGeometry g{};
  g.batch = a.size(0);
  g.m = a.size(1);
  g.k = a.size(2);
  g.n = b.size(2);
  g.sab = a.stride(0);
  g.sar = a.stride(1);
  g.sac = a.stride(2);
  g.sbb = b.stride(0);
  g.sbr = b.stride(1);
  g.sbc = b.stride(2);
  g.tiles_m = (g.m + kTile - 1) / kTile;
  g.tiles_n = (g.n + kTile - 1) / kTile;
  const int64_t tiles = g.batch * g.tiles_m * g.tiles_n;
  const unsigned grid = unsigned(std::min<int64_t>(tiles, kMaxGridSize));
  bmm_integer_kernel<T><<<grid, kBlockSize, 0, stream>>>(static_cast<const T*>(a.data_ptr()),
                                                         static_cast<const T*>(b.data_ptr()),
                                                         static_cast<T*>(out.data_ptr()), g);
  KILN_CUDA_CHECK_LAUNCH("bmm");
}

// ---- bias and activation after a product without epilogue ----

// out[i] = act(acc[i] + bias[i % n]) rounded to T once; acc (the product in acc_t<T>) may be
// out itself (float32/float64) or null (K == 0: the product is zero).
template <class T>
struct BiasActivation {
  using A = acc_t<T>;
  const A* acc;
  const T* bias;
  int64_t bias_stride, n;
  T* out;
  Activation act;

  __device__ void operator()(int64_t i) const {
    A v = acc != nullptr ? acc[i] : A(0);
    if (bias != nullptr) v += convert<A>(bias[(i % n) * bias_stride]);
    if (act == Activation::Relu) {
      v = v > A(0) ? v : A(0);             // max(v, 0), NaN -> 0, as cuBLASLt's ReLU epilogue
    } else if (act == Activation::Gelu) {  // gelu(x, "tanh"), as src/cpu/unary.cpp
      const A k = A(0.7978845608028654), c = A(0.044715);
      const A u = k * (v + c * v * v * v);
      A t;
      if constexpr (std::is_same_v<A, double>)
        t = ::tanh(u);
      else
        t = ::tanhf(u);
      v = A(0.5) * v * (A(1) + t);
    }
    out[i] = convert<T>(v);
  }
};

template <class T>
void bias_activation(const void* acc, const Tensor& bias, Activation act, const Tensor& out,
                     cudaStream_t stream) {
  BiasActivation<T> f{static_cast<const acc_t<T>*>(acc),
                      bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr,
                      bias.defined() ? bias.stride(0) : 0,
                      out.size(1),
                      static_cast<T*>(out.data_ptr()),
                      act};
  launch_elementwise("linear", out.numel(), stream, f);
}

cublasLtEpilogue_t epilogue_of(Activation act, bool has_bias) {
  switch (act) {
    case Activation::Relu:
      return has_bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    case Activation::Gelu:
      return has_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    case Activation::None:
      break;
  }
  return has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
}

void check_on_device(const char* op, std::initializer_list<const Tensor*> ts, Device device) {
  for (const Tensor* t : ts) {
    KILN_CHECK(!t->defined() || t->device() == device, op, ": expected every tensor on ",
               device.str(), ", got one on ", t->device().str());
  }
}

void check_dims(const char* op, int64_t batch, int64_t m, int64_t n, int64_t k, const Shape& a,
                const Shape& b) {
  KILN_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && batch <= INT_MAX, op,
             ": matrix dimensions and batch sizes above 2^31 - 1 are not supported (", shape_str(a),
             " and ", shape_str(b), ")");
}

}  // namespace

void bmm(const Tensor& a, const Tensor& b, const Tensor& out) {
  KILN_CHECK(a.dim() == 3 && b.dim() == 3 && out.dim() == 3, "bmm: expected 3-D tensors, got ",
             shape_str(a.shape()), ", ", shape_str(b.shape()), " and ", shape_str(out.shape()));
  const int64_t batch = a.size(0), m = a.size(1), k = a.size(2), n = b.size(2);
  KILN_CHECK(b.size(0) == batch && b.size(1) == k && out.size(0) == batch && out.size(1) == m &&
                 out.size(2) == n,
             "bmm: mismatched shapes ", shape_str(a.shape()), " @ ", shape_str(b.shape()), " -> ",
             shape_str(out.shape()));
  KILN_CHECK(out.is_contiguous(), "bmm: the output must be contiguous");
  KILN_CHECK(a.dtype() == b.dtype() && a.dtype() == out.dtype(), "bmm: expected one dtype, got ",
             dtype_name(a.dtype()), ", ", dtype_name(b.dtype()), " and ", dtype_name(out.dtype()));
  const Device device = out.device();
  check_on_device("bmm", {&a, &b, &out}, device);
  if (batch == 0 || m == 0 || n == 0) return;
  DeviceGuard guard(device.index);
  cudaStream_t stream = compute_stream(device.index);
  if (k == 0) {  // an empty sum: all zeros, whose bits are zero in every dtype
    KILN_CUDA_CHECK(
        cudaMemsetAsync(out.data_ptr(), 0, size_t(out.numel()) * element_size(out.dtype()), stream),
        "bmm");
    return;
  }
  check_dims("bmm", batch, m, n, k, a.shape(), b.shape());
  if (!is_floating(a.dtype())) {
    dispatch_all(a.dtype(), [&]<class T>() {
      if constexpr (!is_float_type_v<T>) bmm_integer<T>(a, b, out, stream);
    });
    return;
  }
  Operand oa = make_operand(a, false, false);
  Operand ob = make_operand(b, false, false);
  Gemm g;
  g.device = device.index;
  g.in = g.d_type = a.dtype();
  g.batch = batch;
  g.m = m;
  g.n = n;
  g.k = k;
  g.d = out.data_ptr();
  lt_matmul(g, oa, ob, false, "bmm");
}

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act,
            const Tensor& out) {
  check_linear_contract(x, weight, bias, out);
  const int64_t m = x.size(0), k = x.size(1), n = weight.size(0);
  const DType dtype = x.dtype();
  KILN_CHECK(is_floating(dtype) && weight.dtype() == dtype && out.dtype() == dtype &&
                 (!bias.defined() || bias.dtype() == dtype),
             "linear: expected one floating dtype, got x ", dtype_name(dtype), ", weight ",
             dtype_name(weight.dtype()), " and out ", dtype_name(out.dtype()));
  const Device device = out.device();
  check_on_device("linear", {&x, &weight, &bias, &out}, device);
  if (m == 0 || n == 0) return;
  DeviceGuard guard(device.index);
  cudaStream_t stream = compute_stream(device.index);
  if (k == 0) {  // act(0 + bias)
    dispatch_floating(dtype, "linear",
                      [&]<class T>() { bias_activation<T>(nullptr, bias, act, out, stream); });
    return;
  }
  check_dims("linear", 1, m, n, k, x.shape(), weight.shape());
  // cuBLASLt reads the bias as a packed vector, and some of its kernels assume a 16-byte aligned
  // one whatever the heuristic was told (a misaligned read there kills the context): copy it.
  const bool bias_misaligned =
      bias.defined() && reinterpret_cast<uintptr_t>(bias.data_ptr()) % 16 != 0;
  const Tensor packed_bias = bias.defined() && ((n > 1 && bias.stride(0) != 1) || bias_misaligned)
                                 ? contiguous_copy(bias)
                                 : bias;
  Operand ox = make_operand(x, false, false);
  Operand ow = make_operand(weight, true, false);  // weight^T, [K, N]
  Gemm g;
  g.device = device.index;
  g.in = g.d_type = dtype;
  g.m = m;
  g.n = n;
  g.k = k;
  g.d = out.data_ptr();
  g.epilogue = epilogue_of(act, bias.defined());
  if (g.epilogue == CUBLASLT_EPILOGUE_DEFAULT) {
    lt_matmul(g, ox, ow, true, "linear");
    return;
  }
  g.bias = packed_bias.defined() ? packed_bias.data_ptr() : nullptr;
  g.a = &ox;
  g.b = &ow;
  if (try_lt_matmul(g, "linear")) return;

  // No fused algorithm: the product in the accumulation type, then bias + activation + one
  // rounding. float32/float64 accumulate in out itself; float16/bfloat16 in a float32 buffer.
  g.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  g.bias = nullptr;
  void* scratch = nullptr;
  if (is_reduced(dtype)) {
    scratch = raw_allocate(size_t(m * n) * sizeof(float), device.index, "linear");
    g.d_type = DType::Float32;
    g.d = scratch;
  }
  try {
    lt_matmul(g, ox, ow, true, "linear");
    dispatch_floating(dtype, "linear",
                      [&]<class T>() { bias_activation<T>(g.d, packed_bias, act, out, stream); });
  } catch (...) {
    if (scratch != nullptr) raw_free(scratch, device.index);
    throw;
  }
  // Stream-ordered: freed after the kernels above that read it.
  if (scratch != nullptr) raw_free(scratch, device.index);
}

}  // namespace kiln::cuda
