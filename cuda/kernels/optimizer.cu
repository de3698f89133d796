// Fused optimizer steps: SGD (momentum, dampening, Nesterov, weight decay) and Adam/AdamW
// (AMSGrad, L2 or decoupled weight decay) over all tensors of a group in ONE launch.
//
// The host builds a table with one entry per non-empty tensor (its pointers, size, per-tensor
// scalars such as Adam's bias corrections computed in double, and the index of its first chunk),
// copies it to stream-ordered scratch memory and launches one block per chunk of kChunk elements
// of the concatenation of all tensors; a block finds its tensor by binary search over the chunk
// starts. Each element is read once and written once; the arithmetic is cpu/optimizer_step.h,
// shared with the CPU reference (src/cpu/optimizer.cpp), so both round at the same points.
#include <cstdint>
#include <vector>

// dtype.cuh before check.h: dtype.cuh's dispatchers call `detail::concat` (kiln::detail), which
// kiln::cuda::detail from check.h would hide if it were declared first.
// clang-format off
#include "common/dtype.cuh"
#include "common/check.h"
// clang-format on
#include "cpu/optimizer_step.h"
#include "kernels/kernels.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace {

constexpr int kStepBlock = 256;
// Elements per block: 64 per thread, enough to amortise the table lookup, small enough that a
// model of a few million parameters still spreads over every SM. A multiple of every vector
// width below, so each chunk of an aligned tensor starts aligned.
constexpr int64_t kChunk = 16384;
constexpr int kVectorBytes = 16;

struct StepEntry {
  void* param;
  const void* grad;
  void* state0;  // SGD: momentum buffer (null without momentum); Adam: exp_avg
  void* state1;  // Adam: exp_avg_sq
  void* state2;  // Adam: max_exp_avg_sq (null without amsgrad)
  int64_t numel;
  int64_t chunk_begin;  // index of its first chunk among all chunks of the launch
  double k0, k1;        // SGD: k0 = first step (0/1); Adam: -step_size, sqrt(bias_correction2)
  int vectorized;       // every pointer is kVectorBytes-aligned
};

// kVectorBytes of elements, loaded and stored with one 128-bit access.
template <class T>
struct alignas(kVectorBytes) Pack {
  static constexpr int kSize = kVectorBytes / int(sizeof(T));
  T v[kSize];
};

template <class A>
struct SgdFunctor {
  optim_step::SgdCoeffs<A> c;
  __device__ __forceinline__ void operator()(A& p, A g, A& buf, A&, A&, A first, A) const {
    optim_step::sgd_update<A>(p, g, buf, first != A(0), c);
  }
};

template <class A>
struct AdamFunctor {
  optim_step::AdamCoeffs<A> c;
  __device__ __forceinline__ void operator()(A& p, A g, A& m, A& v, A& vmax, A neg_step_size,
                                             A bias_correction2_sqrt) const {
    optim_step::adam_update<A>(p, g, m, v, vmax, c, neg_step_size, bias_correction2_sqrt);
  }
};

// One block per chunk. f(p, g, s0, s1, s2, k0, k1) updates one element in the arithmetic type;
// states whose pointer is null are neither read nor written.
template <class T, class F>
__global__ void __launch_bounds__(kStepBlock)
    multi_tensor_step_kernel(const StepEntry* table, int count, F f) {
  using A = acc_t<T>;
  const int64_t chunk = blockIdx.x;
  // The last entry whose first chunk is at or before this one (the table has no empty tensors,
  // so that entry holds the chunk).
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (table[mid].chunk_begin <= chunk)
      lo = mid;
    else
      hi = mid - 1;
  }
  const StepEntry e = table[lo];
  const int64_t begin = (chunk - e.chunk_begin) * kChunk;
  const int64_t end = begin + kChunk < e.numel ? begin + kChunk : e.numel;
  T* p = static_cast<T*>(e.param);
  const T* g = static_cast<const T*>(e.grad);
  T* s0 = static_cast<T*>(e.state0);
  T* s1 = static_cast<T*>(e.state1);
  T* s2 = static_cast<T*>(e.state2);
  const A k0 = A(e.k0), k1 = A(e.k1);

  int64_t scalar_begin = begin;
  if (e.vectorized) {
    constexpr int V = Pack<T>::kSize;
    const int64_t vectors = (end - begin) / V;
    for (int64_t j = threadIdx.x; j < vectors; j += blockDim.x) {
      const int64_t i = begin + j * V;
      Pack<T> pp = *reinterpret_cast<const Pack<T>*>(p + i);
      const Pack<T> gp = *reinterpret_cast<const Pack<T>*>(g + i);
      Pack<T> a0, a1, a2;
      if (s0) a0 = *reinterpret_cast<const Pack<T>*>(s0 + i);
      if (s1) a1 = *reinterpret_cast<const Pack<T>*>(s1 + i);
      if (s2) a2 = *reinterpret_cast<const Pack<T>*>(s2 + i);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        A pv = convert<A>(pp.v[k]);
        A x0 = s0 ? convert<A>(a0.v[k]) : A(0);
        A x1 = s1 ? convert<A>(a1.v[k]) : A(0);
        A x2 = s2 ? convert<A>(a2.v[k]) : A(0);
        f(pv, convert<A>(gp.v[k]), x0, x1, x2, k0, k1);
        pp.v[k] = convert<T>(pv);
        if (s0) a0.v[k] = convert<T>(x0);
        if (s1) a1.v[k] = convert<T>(x1);
        if (s2) a2.v[k] = convert<T>(x2);
      }
      *reinterpret_cast<Pack<T>*>(p + i) = pp;
      if (s0) *reinterpret_cast<Pack<T>*>(s0 + i) = a0;
      if (s1) *reinterpret_cast<Pack<T>*>(s1 + i) = a1;
      if (s2) *reinterpret_cast<Pack<T>*>(s2 + i) = a2;
    }
    scalar_begin = begin + vectors * V;
  }
  for (int64_t i = scalar_begin + threadIdx.x; i < end; i += blockDim.x) {
    A pv = convert<A>(p[i]);
    A x0 = s0 ? convert<A>(s0[i]) : A(0);
    A x1 = s1 ? convert<A>(s1[i]) : A(0);
    A x2 = s2 ? convert<A>(s2[i]) : A(0);
    f(pv, convert<A>(g[i]), x0, x1, x2, k0, k1);
    p[i] = convert<T>(pv);
    if (s0) s0[i] = convert<T>(x0);
    if (s1) s1[i] = convert<T>(x1);
    if (s2) s2[i] = convert<T>(x2);
  }
}

// Scratch memory for the table, freed stream-ordered after the launch that reads it.
class Scratch {
 public:
  Scratch(size_t nbytes, int device, const char* op)
      : ptr_(raw_allocate(nbytes, device, op)), device_(device) {}
  ~Scratch() { raw_free(ptr_, device_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_;
  int device_;
};

bool aligned(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % kVectorBytes == 0; }

// Builds the table over the non-empty tensors; `fill(i, entry)` sets the state pointers and the
// per-tensor scalars of tensor i. Returns the number of chunks (0: nothing to do).
template <class Fill>
int64_t build_table(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    std::vector<StepEntry>& table, Fill fill) {
  int64_t chunks = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t n = params[i].numel();
    if (n == 0) continue;
    StepEntry e{};
    e.param = params[i].data_ptr();
    e.grad = grads[i].data_ptr();
    e.numel = n;
    e.chunk_begin = chunks;
    fill(i, e);
    e.vectorized = aligned(e.param) && aligned(e.grad) && aligned(e.state0) && aligned(e.state1) &&
                   aligned(e.state2);
    table.push_back(e);
    chunks += (n + kChunk - 1) / kChunk;
  }
  return chunks;
}

template <class T, class F>
void launch_step(const char* op, const std::vector<StepEntry>& table, int64_t chunks, int device,
                 F f) {
  KILN_CHECK(chunks <= int64_t(0x7fffffff), op, ": ", chunks,
             " chunks exceed the grid limit of one launch");
  const DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  const size_t bytes = table.size() * sizeof(StepEntry);
  Scratch dtable(bytes, device, op);
  // A pageable source is staged before the call returns, so `table` may be freed afterwards.
  KILN_CUDA_CHECK(
      cudaMemcpyAsync(dtable.get(), table.data(), bytes, cudaMemcpyHostToDevice, stream), op);
  multi_tensor_step_kernel<T><<<unsigned(chunks), kStepBlock, 0, stream>>>(
      static_cast<const StepEntry*>(dtable.get()), int(table.size()), f);
  KILN_CUDA_CHECK_LAUNCH(op);
}

template <class T>
void launch_sgd(const std::vector<StepEntry>& table, int64_t chunks, int device,
                const SgdStepArgs& args) {
  using A = acc_t<T>;
  launch_step<T>("sgd_step", table, chunks, device, SgdFunctor<A>{optim_step::sgd_coeffs<A>(args)});
}

template <class T>
void launch_adam(const std::vector<StepEntry>& table, int64_t chunks, int device,
                 const AdamStepArgs& args) {
  using A = acc_t<T>;
  launch_step<T>("adam_step", table, chunks, device,
                 AdamFunctor<A>{optim_step::adam_coeffs<A>(args)});
}

}  // namespace

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const std::vector<uint8_t>& first_step,
              const SgdStepArgs& args) {
  optim_step::check_sgd_step(params, grads, momentum_buffers, first_step, args, DeviceType::CUDA);
  if (params.empty()) return;
  const bool momentum = args.momentum != 0;
  std::vector<StepEntry> table;
  const int64_t chunks = build_table(params, grads, table, [&](size_t i, StepEntry& e) {
    if (!momentum) return;
    e.state0 = momentum_buffers[i].data_ptr();
    e.k0 = first_step[i] != 0 ? 1.0 : 0.0;
  });
  if (chunks == 0) return;
  const int device = params[0].device().index;
  dispatch_floating(params[0].dtype(), "sgd_step",
                    [&]<class T>() { launch_sgd<T>(table, chunks, device, args); });
}

void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
               const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<int64_t>& steps,
               const AdamStepArgs& args) {
  optim_step::check_adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, args,
                              DeviceType::CUDA);
  if (params.empty()) return;
  std::vector<StepEntry> table;
  const int64_t chunks = build_table(params, grads, table, [&](size_t i, StepEntry& e) {
    e.state0 = exp_avgs[i].data_ptr();
    e.state1 = exp_avg_sqs[i].data_ptr();
    if (args.amsgrad) e.state2 = max_exp_avg_sqs[i].data_ptr();
    const optim_step::AdamStepFactors f = optim_step::adam_step_factors(args, steps[i]);
    e.k0 = f.neg_step_size;
    e.k1 = f.bias_correction2_sqrt;
  });
  if (chunks == 0) return;
  const int device = params[0].device().index;
  dispatch_floating(params[0].dtype(), "adam_step",
                    [&]<class T>() { launch_adam<T>(table, chunks, device, args); });
}

}  // namespace kiln::cuda
