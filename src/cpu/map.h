#pragma once
// Typed elementwise maps over the strided loop: out = f(x) and out = f(a, b), computing in the
// accumulation type A (float for float32/16/bf16) and converting on load and store.
#include "cpu/dispatch.h"
#include "cpu/loop.h"

namespace kiln::cpu {

template <class In, class Out, class A, class F>
void map1(const Tensor& x, const Tensor& out, F f) {
  for_each_strided<2>({&out, &x}, [&](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
    if (s[0] == sizeof(Out) && s[1] == sizeof(In)) {
      Out* o = reinterpret_cast<Out*>(p[0]);
      const In* in = reinterpret_cast<const In*>(p[1]);
      for (int64_t i = 0; i < n; ++i) o[i] = Out(f(A(in[i])));
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<Out*>(p[0] + i * s[0]) =
            Out(f(A(*reinterpret_cast<const In*>(p[1] + i * s[1]))));
    }
  });
}

template <class In, class Out, class A, class F>
void map2(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  for_each_strided<3>(
      {&out, &a, &b}, [&](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
        if (s[0] == sizeof(Out) && s[1] == sizeof(In) && s[2] == sizeof(In)) {
          Out* o = reinterpret_cast<Out*>(p[0]);
          const In* x = reinterpret_cast<const In*>(p[1]);
          const In* y = reinterpret_cast<const In*>(p[2]);
          for (int64_t i = 0; i < n; ++i) o[i] = Out(f(A(x[i]), A(y[i])));
        } else if (s[0] == sizeof(Out) && s[1] == sizeof(In) && s[2] == 0) {  // tensor op scalar
          Out* o = reinterpret_cast<Out*>(p[0]);
          const In* x = reinterpret_cast<const In*>(p[1]);
          const A y = A(*reinterpret_cast<const In*>(p[2]));
          for (int64_t i = 0; i < n; ++i) o[i] = Out(f(A(x[i]), y));
        } else {
          for (int64_t i = 0; i < n; ++i)
            *reinterpret_cast<Out*>(p[0] + i * s[0]) =
                Out(f(A(*reinterpret_cast<const In*>(p[1] + i * s[1])),
                      A(*reinterpret_cast<const In*>(p[2] + i * s[2]))));
        }
      });
}

}  // namespace kiln::cpu
