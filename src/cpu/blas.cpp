// Batched matrix products. float32/float64 go through CBLAS (OpenBLAS); float16/bfloat16 are
// widened to float32, multiplied with sgemm (so they accumulate in float32) and rounded once on
// the way out; integer types use a plain loop accumulating in 64 bits.
//
// linear is the reference of the CUDA backend's cuBLASLt epilogues: the product, the bias and
// the activation are applied in the accumulation type (float for float16/bfloat16) and rounded
// once, as the fused kernel does. Its Gelu is the tanh approximation (cuBLASLt's GELU epilogue),
// with the same expression as the gelu(x, "tanh") kernel in unary.cpp.
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/kernels.h"
#include "cpu/loop.h"

namespace kiln::cpu {
namespace {

// Geometry of a [B, R, C] operand in elements.
struct Dims3 {
  int64_t b, r, c;     // sizes
  int64_t sb, sr, sc;  // strides
};

Dims3 dims_of(const Tensor& t) {
  return {t.shape()[0], t.shape()[1], t.shape()[2], t.strides()[0], t.strides()[1], t.strides()[2]};
}

// One operand as gemm sees it: where its first matrix is, how far apart the batch's matrices
// are, whether it is stored transposed, and its leading dimension.
template <class G>
struct GemmOperand {
  const G* data = nullptr;
  int64_t batch_stride = 0;
  CBLAS_TRANSPOSE trans = CblasNoTrans;
  int64_t ld = 1;
  std::vector<G> packed;  // a contiguous copy, when the strides do not fit gemm
};

// Whether a R x C matrix with strides (sr, sc) can be passed to gemm as it is, and how. A
// dimension of size 1 has no meaningful stride, so it never prevents a match.
bool gemm_layout(const Dims3& d, CBLAS_TRANSPOSE& trans, int64_t& ld) {
  const int64_t rows = std::max<int64_t>(d.r, 1), cols = std::max<int64_t>(d.c, 1);
  if ((d.c == 1 || d.sc == 1) && (d.r == 1 || d.sr >= cols)) {
    trans = CblasNoTrans;  // row-major R x C with leading dimension sr
    ld = d.r == 1 ? cols : d.sr;
    return ld <= INT_MAX;
  }
  if ((d.r == 1 || d.sr == 1) && (d.c == 1 || d.sc >= rows)) {
    trans = CblasTrans;  // stored as its transpose: row-major C x R with leading dimension sc
    ld = d.c == 1 ? rows : d.sc;
    return ld <= INT_MAX;
  }
  return false;
}

// Widening load used by pack(): Half/BFloat16 become float, everything else is unchanged.
template <class S>
auto float_or_self(S v) {
  if constexpr (std::is_same_v<S, Half> || std::is_same_v<S, BFloat16>)
    return float(v);
  else
    return v;
}

// Copies a [B, R, C] operand of element type S with any strides into contiguous G.
template <class S, class G>
std::vector<G> pack(const Dims3& d, const S* src) {
  std::vector<G> out(size_t(d.b * d.r * d.c));
  size_t i = 0;
  for (int64_t b = 0; b < d.b; ++b)
    for (int64_t r = 0; r < d.r; ++r)
      for (int64_t c = 0; c < d.c; ++c)
        out[i++] = G(float_or_self(src[b * d.sb + r * d.sr + c * d.sc]));
  return out;
}

template <class S, class G>
void prepare(const Dims3& d, const S* data, GemmOperand<G>& op) {
  if constexpr (std::is_same_v<S, G>) {
    if (gemm_layout(d, op.trans, op.ld)) {
      op.data = data;
      op.batch_stride = d.sb;
      return;
    }
  }
  op.packed = pack<S, G>(d, data);
  op.data = op.packed.data();
  op.batch_stride = d.r * d.c;
  op.trans = CblasNoTrans;
  op.ld = std::max<int64_t>(d.c, 1);
}

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* a, int lda,
          const float* b, int ldb, float* c) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* a, int lda,
          const double* b, int ldb, double* c) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, n);
}

// out (contiguous G) = a @ b per batch, for element type S computed in gemm type G.
template <class S, class G>
void bmm_gemm(const Dims3& da, const S* a, const Dims3& db, const S* b, G* out) {
  const int64_t batch = da.b, m = da.r, k = da.c, n = db.c;
  GemmOperand<G> pa, pb;
  prepare<S, G>(da, a, pa);
  prepare<S, G>(db, b, pb);
  for (int64_t i = 0; i < batch; ++i) {
    gemm(pa.trans, pb.trans, int(m), int(n), int(k), pa.data + i * pa.batch_stride, int(pa.ld),
         pb.data + i * pb.batch_stride, int(pb.ld), out + i * m * n);
  }
}

template <class S, class G>
void bmm_gemm(const Tensor& a, const Tensor& b, G* out) {
  bmm_gemm<S, G>(dims_of(a), static_cast<const S*>(a.data_ptr()), dims_of(b),
                 static_cast<const S*>(b.data_ptr()), out);
}

// Integers (and bool): exact in 64 bits with wrap-around, like PyTorch's integer matmul.
template <class T>
void bmm_integer(const Tensor& a, const Tensor& b, const Tensor& out) {
  const Dims3 da = dims_of(a), db = dims_of(b);
  const int64_t m = da.r, k = da.c, n = db.c, rows = da.b * m;
  const T* pa = static_cast<const T*>(a.data_ptr());
  const T* pb = static_cast<const T*>(b.data_ptr());
  T* po = static_cast<T*>(out.data_ptr());
  const bool parallel = rows * n * k >= kParallelGrain;
#pragma omp parallel for if (parallel) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t bi = row / m, i = row % m;
    const T* arow = pa + bi * da.sb + i * da.sr;
    const T* bmat = pb + bi * db.sb;
    for (int64_t j = 0; j < n; ++j) {
      uint64_t acc = 0;
      for (int64_t p = 0; p < k; ++p)
        acc += uint64_t(int64_t(arow[p * da.sc])) * uint64_t(int64_t(bmat[p * db.sr + j * db.sc]));
      if constexpr (std::is_same_v<T, bool>)
        po[row * n + j] = acc != 0;
      else
        po[row * n + j] = T(int64_t(acc));
    }
  }
}

}  // namespace

void bmm(const Tensor& a, const Tensor& b, const Tensor& out) {
  KILN_CHECK(a.dim() == 3 && b.dim() == 3 && out.dim() == 3, "bmm: expected 3-D tensors, got ",
             shape_str(a.shape()), ", ", shape_str(b.shape()), " and ", shape_str(out.shape()));
  KILN_CHECK(out.is_contiguous(), "bmm: the output must be contiguous");
  const int64_t batch = a.shape()[0], m = a.shape()[1], k = a.shape()[2], n = b.shape()[2];
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: the product is all zeros
    fill(out, 0);
    return;
  }
  KILN_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
             "bmm: matrix dimensions above 2^31 - 1 are not supported (", shape_str(a.shape()),
             " and ", shape_str(b.shape()), ")");
  switch (a.dtype()) {
    case DType::Float32:
      return bmm_gemm<float, float>(a, b, out.data<float>());
    case DType::Float64:
      return bmm_gemm<double, double>(a, b, out.data<double>());
    case DType::Float16:
    case DType::BFloat16: {
      std::vector<float> result(size_t(batch * m * n));
      if (a.dtype() == DType::Float16)
        bmm_gemm<Half, float>(a, b, result.data());
      else
        bmm_gemm<BFloat16, float>(a, b, result.data());
      dispatch_floating(out.dtype(), "bmm", [&]<class T>() {
        T* o = out.data<T>();
        for (size_t i = 0; i < result.size(); ++i) o[i] = T(result[i]);
      });
      return;
    }
    default:
      dispatch_all(a.dtype(), [&]<class T>() {
        if constexpr (!is_float_type_v<T>) bmm_integer<T>(a, b, out);
      });
  }
}

namespace {

template <class T>
void linear_typed(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act,
                  const Tensor& out) {
  using A = acc_t<T>;  // float for float16/bfloat16/float32, double for float64
  const int64_t m = x.size(0), k = x.size(1), n = weight.size(0);
  // x is [1, M, K]; weight^T is the [1, K, N] view of weight [N, K] (strides swapped).
  const Dims3 dx{1, m, k, 0, x.stride(0), x.stride(1)};
  const Dims3 dw{1, k, n, 0, weight.stride(1), weight.stride(0)};
  std::vector<A> acc(size_t(m * n), A(0));
  if (k > 0) bmm_gemm<T, A>(dx, x.data<T>(), dw, weight.data<T>(), acc.data());

  const T* pb = bias.defined() ? bias.data<T>() : nullptr;
  const int64_t sb = bias.defined() ? bias.stride(0) : 0;
  T* po = out.data<T>();
  const A kTanh = A(0.7978845608028654), kCubic = A(0.044715);  // sqrt(2/pi), as unary.cpp
  const bool parallel = m * n >= kParallelGrain;
#pragma omp parallel for if (parallel) schedule(static)
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      A v = acc[size_t(i * n + j)];
      if (pb != nullptr) v += A(pb[j * sb]);
      switch (act) {
        case Activation::None:
          break;
        case Activation::Relu:  // max(v, 0), NaN -> 0: cuBLASLt's ReLU epilogue (linear_act.h)
          v = v > A(0) ? v : A(0);
          break;
        case Activation::Gelu:
          v = A(0.5) * v * (A(1) + std::tanh(kTanh * (v + kCubic * v * v * v)));
          break;
      }
      po[i * n + j] = T(v);
    }
  }
}

}  // namespace

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act,
            const Tensor& out) {
  check_linear_contract(x, weight, bias, out);
  const int64_t m = x.size(0), k = x.size(1), n = weight.size(0);
  if (m == 0 || n == 0) return;
  KILN_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
             "linear: matrix dimensions above 2^31 - 1 are not supported (x ", shape_str(x.shape()),
             ", weight ", shape_str(weight.shape()), ")");
  dispatch_floating(x.dtype(), "linear",
                    [&]<class T>() { linear_typed<T>(x, weight, bias, act, out); });
}

}  // namespace kiln::cpu
