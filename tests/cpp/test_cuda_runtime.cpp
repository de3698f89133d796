// The CUDA runtime API (kiln/cuda.h): devices, memory statistics, out-of-memory recovery, events,
// pinned memory and non_blocking copies, the TF32 switch. The parts that need no GPU run
// everywhere (what a machine without one answers); the rest skips without a device.
#include <cmath>
#include <cstdint>
#include <string>

#include "kiln/cuda.h"
#include "test_util.h"

#ifdef KILN_WITH_CUDA
#include <cuda_runtime_api.h>

#include "runtime/event.h"
#include "runtime/stream.h"
#endif

namespace kiln::testing {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: GPU runtime test skipped"

const Device kGpu = Device::cuda(0);

// ---------------- without a GPU ----------------

TEST(CudaRuntime, DeviceCountAgreesWithAvailability) {
  const int n = cuda::device_count();
  EXPECT_GE(n, 0);
  EXPECT_EQ(cuda::is_available(), n > 0);
  EXPECT_EQ(cuda::is_available(), cuda_available());
  EXPECT_EQ(cuda::device_count(), n) << "the count is computed once and stays";
}

TEST(CudaRuntime, WithoutADeviceCallsThatNeedOneSayWhy) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present: checked by the GPU tests";
  EXPECT_EQ(cuda::device_count(), 0);
  EXPECT_THROW_MSG(cuda::memory_stats(), Error, "memory_stats", "CUDA");
  EXPECT_THROW_MSG(cuda::memory_stats(0), Error, "memory_stats", "CUDA");
  EXPECT_THROW_MSG(cuda::reset_peak_memory_stats(), Error, "reset_peak_memory_stats", "CUDA");
  EXPECT_THROW_MSG(cuda::current_device(), Error, "current_device", "CUDA");
  EXPECT_THROW_MSG(cuda::set_device(0), Error, "set_device", "CUDA");
  EXPECT_THROW_MSG(cuda::get_device_name(0), Error, "get_device_name", "CUDA");
  EXPECT_THROW_MSG(cuda::synchronize_device(), Error, "synchronize", "CUDA");
  EXPECT_NO_THROW(cuda::empty_cache());  // nothing cached, as torch.cuda.empty_cache()
  EXPECT_THROW_MSG(zeros({2}).to(kGpu, /*non_blocking=*/true), Error, "cuda");
}

TEST(CudaRuntime, Tf32SwitchIsOffByDefaultAndToggles) {
  EXPECT_FALSE(cuda::allow_tf32()) << "float32 means float32 unless asked otherwise";
  cuda::set_allow_tf32(true);
  EXPECT_TRUE(cuda::allow_tf32());
  cuda::set_allow_tf32(false);
  EXPECT_FALSE(cuda::allow_tf32());
}

TEST(CudaRuntime, PinMemoryWithoutADeviceRaises) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present: checked by the GPU tests";
  Tensor x = arange(6, DType::Float32);
  EXPECT_FALSE(x.is_pinned());
  // As torch: pinning needs a driver (torch raises "Cannot access accelerator device").
  EXPECT_THROW_MSG(x.pin_memory(), Error, "pin_memory", "CUDA");
}

TEST(CudaRuntime, EventWithoutADevice) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present: checked by the GPU tests";
  cuda::Event e(/*enable_timing=*/true);
  EXPECT_TRUE(e.enable_timing());
  EXPECT_FALSE(e.recorded());
  EXPECT_EQ(e.device(), -1);
  EXPECT_TRUE(e.query()) << "an event never recorded counts as reached, as torch's";
  EXPECT_NO_THROW(e.synchronize());
  EXPECT_NO_THROW(e.wait());
  EXPECT_THROW_MSG(e.record(), Error, "Event.record", "CUDA");
  EXPECT_THROW_MSG((void)e.elapsed_time(cuda::Event(true)), Error, "elapsed_time");
}

TEST(CudaRuntime, NonBlockingOnTheCpuIsAPlainConversion) {
  Tensor x = arange(4, DType::Float32);
  Tensor same = x.to(Device::cpu(), /*non_blocking=*/true);
  EXPECT_TRUE(same.is_same(x));
  Tensor d = x.to(Device::cpu(), DType::Float64, /*non_blocking=*/true);
  EXPECT_EQ(d.dtype(), DType::Float64);
  expect_values(d, {4}, {0, 1, 2, 3});
  // The old overloads keep their meaning.
  EXPECT_EQ(x.to(Device::cpu(), DType::Int64).dtype(), DType::Int64);
  EXPECT_EQ(x.to(DType::Float16).dtype(), DType::Float16);
}

TEST(CudaRuntime, PinMemoryRefusesGpuTensors) {
  SKIP_WITHOUT_GPU();
  EXPECT_THROW_MSG(ones({2}, TensorOptions(DType::Float32, kGpu)).pin_memory(), Error, "pin_memory",
                   "cuda:0");
}

// ---------------- with a GPU ----------------

TEST(CudaRuntime, DeviceQueries) {
  SKIP_WITHOUT_GPU();
  const int d = cuda::current_device();
  EXPECT_GE(d, 0);
  EXPECT_LT(d, cuda::device_count());
  EXPECT_FALSE(cuda::get_device_name(d).empty());
  EXPECT_EQ(cuda::get_device_name(), cuda::get_device_name(d));
  cuda::set_device(d);
  EXPECT_EQ(cuda::current_device(), d);
  EXPECT_THROW_MSG(cuda::set_device(cuda::device_count()), Error, "set_device", "out of range");
  EXPECT_NO_THROW(cuda::synchronize_device());
}

TEST(CudaRuntime, MemoryStatsCountLiveAllocations) {
  SKIP_WITHOUT_GPU();
  cuda::synchronize_device();
  const cuda::MemoryStats before = cuda::memory_stats(0);
  EXPECT_GE(before.reserved_bytes, before.allocated_bytes);
  {
    Tensor a = empty({1000}, TensorOptions(DType::Float32, kGpu));  // 4000 bytes
    Tensor b = empty({250}, TensorOptions(DType::Float64, kGpu));   // 2000 bytes
    const cuda::MemoryStats during = cuda::memory_stats(0);
    EXPECT_EQ(during.allocated_bytes, before.allocated_bytes + 6000);
    EXPECT_EQ(during.allocations, before.allocations + 2);
    EXPECT_EQ(during.num_allocs, before.num_allocs + 2);
    EXPECT_GE(during.peak_allocated_bytes, during.allocated_bytes);
    EXPECT_GE(during.reserved_bytes, during.allocated_bytes);
    EXPECT_GE(during.peak_reserved_bytes, during.reserved_bytes);
  }
  const cuda::MemoryStats after = cuda::memory_stats(0);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  EXPECT_EQ(after.allocations, before.allocations);
  EXPECT_EQ(after.num_frees, before.num_frees + 2);
  EXPECT_GE(after.peak_allocated_bytes, before.allocated_bytes + 6000);

  cuda::reset_peak_memory_stats(0);
  const cuda::MemoryStats reset = cuda::memory_stats(0);
  EXPECT_EQ(reset.peak_allocated_bytes, reset.allocated_bytes);
  EXPECT_EQ(reset.peak_allocations, reset.allocations);
  {
    Tensor big = empty({1 << 20}, TensorOptions(DType::Float32, kGpu));
    EXPECT_EQ(cuda::memory_stats().peak_allocated_bytes, reset.allocated_bytes + (4 << 20));
  }
  EXPECT_EQ(cuda::memory_stats().peak_allocated_bytes, reset.allocated_bytes + (4 << 20));
  // empty_cache returns what no tensor uses; what tensors use stays.
  Tensor kept = ones({1024}, TensorOptions(DType::Float32, kGpu));
  cuda::empty_cache();
  EXPECT_GE(cuda::memory_stats().reserved_bytes, 4096);
  expect_values(kept.sum(), {}, {1024});
}

TEST(CudaRuntime, OutOfMemoryNamesTheSizeAndLeavesTheProcessUsable) {
  SKIP_WITHOUT_GPU();
  const cuda::MemoryStats before = cuda::memory_stats(0);
  const int64_t elements = int64_t(1) << 48;  // 2^50 bytes of float32: a petabyte
  std::string message;
  bool caught = false;
  try {
    (void)empty({elements}, TensorOptions(DType::Float32, kGpu));
  } catch (const cuda::OutOfMemoryError& e) {
    caught = true;
    message = e.what();
  }
  ASSERT_TRUE(caught) << "a petabyte allocation must raise cuda::OutOfMemoryError";
  expect_contains(message, {"allocate", "out of memory", "1125899906842624 bytes", "1024.00 TiB",
                            "cuda:0", "allocated by Kiln", "reserved", "free of"});
  const cuda::MemoryStats after = cuda::memory_stats(0);
  EXPECT_EQ(after.num_ooms, before.num_ooms + 1);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  EXPECT_EQ(after.num_allocs, before.num_allocs);

  // Usable afterwards: allocate, compute, read back.
  Tensor x = arange(1000, DType::Float32).to(kGpu);
  expect_values((x * 2).sum(), {}, {999000});
  EXPECT_EQ(cuda::memory_stats(0).num_ooms, before.num_ooms + 1);
}

TEST(CudaRuntime, PinnedMemoryAndNonBlockingCopies) {
  SKIP_WITHOUT_GPU();
  Tensor host = arange(4096, DType::Float32).reshape({64, 64}).t();  // a non-contiguous view
  EXPECT_FALSE(host.is_pinned());
  Tensor pinned = host.pin_memory();
  EXPECT_TRUE(pinned.is_pinned());
  EXPECT_TRUE(pinned.device().is_cpu());
  EXPECT_TRUE(pinned.is_contiguous());
  EXPECT_TRUE(equal(pinned, host));
  EXPECT_TRUE(pinned.pin_memory().is_same(pinned)) << "pinning a pinned tensor is a no-op";
  EXPECT_TRUE(pinned.narrow(0, 1, 2).is_pinned()) << "a view of pinned memory is pinned";

  Tensor gpu = pinned.to(kGpu, /*non_blocking=*/true);
  EXPECT_FALSE(gpu.is_pinned());
  Tensor doubled = gpu * 2;  // ordered after the copy on the compute stream
  Tensor back = doubled.to(Device::cpu(), /*non_blocking=*/true);
  cuda::synchronize_device();
  EXPECT_TRUE(equal(back, host * 2));
  // A conversion too (bfloat16 rounds 0..4095 as the CPU does), and the copy from pageable
  // memory.
  Tensor halves = pinned.to(kGpu, DType::BFloat16, /*non_blocking=*/true);
  EXPECT_EQ(halves.dtype(), DType::BFloat16);
  EXPECT_TRUE(equal(halves.cpu(), host.to(DType::BFloat16)));
  EXPECT_TRUE(equal(host.to(kGpu, true).cpu(), host));

  // Gradients flow through pin_memory as through a copy.
  Tensor leaf = ones({3}).requires_grad_();
  Tensor p = leaf.pin_memory();
  (p * 3).sum().backward();
  expect_values(leaf.grad(), {3}, {3, 3, 3});
}

TEST(CudaRuntime, EventsOrderAndTimeWork) {
  SKIP_WITHOUT_GPU();
  cuda::Event start(true), end(true);
  EXPECT_TRUE(start.query());
  start.record();
  EXPECT_TRUE(start.recorded());
  EXPECT_EQ(start.device(), cuda::current_device());
  Tensor a = randn({1024, 1024}, TensorOptions(DType::Float32, kGpu));
  Tensor c = matmul(a, a);
  end.record();
  end.synchronize();
  EXPECT_TRUE(end.query());
  const double ms = start.elapsed_time(end);
  EXPECT_GE(ms, 0.0);
  EXPECT_LT(ms, 60000.0);
  end.wait();  // the compute stream waits for a reached event: no effect, no error

  cuda::Event plain;
  plain.record();
  plain.synchronize();
  EXPECT_THROW_MSG((void)plain.elapsed_time(end), Error, "elapsed_time", "enable_timing");
  cuda::Event never(true);
  EXPECT_THROW_MSG((void)never.elapsed_time(end), Error, "elapsed_time", "recorded");
  EXPECT_TRUE(std::isfinite(c.sum().item()));
}

#ifdef KILN_WITH_CUDA
// The communication stream runs apart from the compute stream; an event orders them.
TEST(CudaRuntime, CommunicationStreamWaitsThroughAnEvent) {
  SKIP_WITHOUT_GPU();
  const int d = cuda::current_device();
  cudaStream_t compute = cuda::compute_stream(d), comm = cuda::communication_stream(d);
  EXPECT_NE(compute, comm);
  EXPECT_EQ(cuda::communication_stream(d), comm) << "one communication stream per device";
  unsigned int flags = 0;
  ASSERT_EQ(cudaStreamGetFlags(comm, &flags), cudaSuccess);
  EXPECT_EQ(flags & cudaStreamNonBlocking, unsigned(cudaStreamNonBlocking));

  const int64_t n = int64_t(1) << 24;
  Tensor src = arange(double(n), TensorOptions(DType::Float32, kGpu)) * 3;  // on compute
  Tensor dst = zeros({n}, TensorOptions(DType::Float32, kGpu));
  cuda::synchronize_device();  // dst's zeros are in place before the copy below
  Tensor produced = src + 1;   // queued on the compute stream
  cuda::StreamEvent ready(d);
  ready.record(compute);
  ready.wait(comm);
  ASSERT_EQ(cudaMemcpyAsync(dst.data_ptr(), produced.data_ptr(), size_t(n) * sizeof(float),
                            cudaMemcpyDeviceToDevice, comm),
            cudaSuccess);
  cuda::StreamEvent copied(d, /*enable_timing=*/true);
  copied.record(comm);
  copied.wait(compute);
  EXPECT_TRUE(equal(dst, produced));  // ordered after the copy on the compute stream
  copied.synchronize();
  EXPECT_TRUE(copied.query());
}
#endif

}  // namespace
}  // namespace kiln::testing
