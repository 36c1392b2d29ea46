// The C++ type behind each storage DType, and ONNX Cast's conversion of one element.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "agent/engine/const_tensor.h"

namespace edge::engine {

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) with the element type stored for `type`: float, int8_t, uint8_t,
// int32_t, int64_t or bool (one byte, 0 or 1). kF16/kF64 are never stored (float32 inside).
template <typename F>
decltype(auto) VisitStorageType(DType type, F&& f) {
  switch (type) {
    case DType::kI8: return f(TypeTag<int8_t>{});
    case DType::kU8: return f(TypeTag<uint8_t>{});
    case DType::kI32: return f(TypeTag<int32_t>{});
    case DType::kI64: return f(TypeTag<int64_t>{});
    case DType::kBool: return f(TypeTag<bool>{});
    default: return f(TypeTag<float>{});
  }
}

// ONNX Cast of one element. To bool: nonzero (NaN too) is true. Float to integer: truncated
// toward zero and saturated to the type's range, NaN to 0 (ONNX leaves out-of-range values
// undefined; saturating is what QuantizeLinear does). Integer to narrower integer: wraps
// modulo 2^bits, as C++, numpy and ONNX Runtime do.
template <typename To, typename From>
To CastElement(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From{0};
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (std::isnan(v)) return To{0};
    const double t = std::trunc(static_cast<double>(v));
    // 2^digits is the first value past the maximum; it and the minimum are exact in double.
    const double past_max = std::ldexp(1.0, std::numeric_limits<To>::digits);
    if (t >= past_max) return std::numeric_limits<To>::max();
    if (t < static_cast<double>(std::numeric_limits<To>::min())) return std::numeric_limits<To>::min();
    return static_cast<To>(t);
  } else {
    return static_cast<To>(v);
  }
}

// Integers follow ONNX: results wrap modulo 2^bits (computed in uint64, which C++ defines);
// division truncates toward zero like C and ONNX Runtime, and a division by zero gives 0 where
// C would trap (ONNX leaves it undefined).
template <typename T>
struct ElementArith {
  static constexpr bool kFloat = std::is_floating_point_v<T>;
  static uint64_t U(T v) { return static_cast<uint64_t>(v); }
  // Max and Min propagate NaN from either side, as ONNX and numpy do.
  static T Max(T a, T b) {
    if constexpr (kFloat) {
      if (std::isnan(b)) return b;
    }
    return a < b ? b : a;
  }
  static T Min(T a, T b) {
    if constexpr (kFloat) {
      if (std::isnan(b)) return b;
    }
    return b < a ? b : a;
  }
  static T Add(T a, T b) {
    if constexpr (kFloat) return a + b; else return static_cast<T>(U(a) + U(b));
  }
  static T Sub(T a, T b) {
    if constexpr (kFloat) return a - b; else return static_cast<T>(U(a) - U(b));
  }
  static T Mul(T a, T b) {
    if constexpr (kFloat) return a * b; else return static_cast<T>(U(a) * U(b));
  }
  static T Div(T a, T b) {
    if constexpr (kFloat) {
      return a / b;
    } else {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return static_cast<T>(uint64_t{0} - U(a));
      }
      return static_cast<T>(a / b);
    }
  }
};

}  // namespace edge::engine
