// Argument reading for the N-API entry points (every file in bindings/): one
// place that checks types and lengths, so a wrong call from JS throws a
// TypeError naming the argument instead of reading or writing out of bounds;
// the entry-point wrapper; and the export helpers (functions, op tables,
// params layouts).
#pragma once

#include <node_api.h>

#include <cstdint>
#include <string>
#include <type_traits>

namespace alae {

// The typed array that holds elements of type T.
template <class T>
struct ArrayKind;
template <>
struct ArrayKind<float> {
  static constexpr napi_typedarray_type type = napi_float32_array;
  static constexpr const char* name = "a Float32Array";
};
template <>
struct ArrayKind<uint8_t> {
  static constexpr napi_typedarray_type type = napi_uint8_array;
  static constexpr const char* name = "a Uint8Array";
};
template <>
struct ArrayKind<int32_t> {
  static constexpr napi_typedarray_type type = napi_int32_array;
  static constexpr const char* name = "an Int32Array";
};

// A typed-array argument for Args::arrays: its position, where the pointer
// goes (its element type picks the array type), its name and minimum length.
template <class T>
struct ArrayArg {
  size_t i;
  T** to;
  const char* name;
  int64_t min_len;
};
template <class T>
ArrayArg<T> arg(size_t i, T** to, const char* name, int64_t min_len) {
  return {i, to, name, min_len};
}

struct Args {
  napi_env env;
  napi_value argv[12];
  size_t argc = 12;
  bool failed = false;

  Args(napi_env e, napi_callback_info info) : env(e) {
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) fail("bad arguments");
  }

  // Throws a TypeError (the first failure only); every reader then returns
  // nothing.
  void fail(const std::string& msg) {
    if (!failed) napi_throw_type_error(env, nullptr, ("alae_native: " + msg).c_str());
    failed = true;
  }

  // Fails unless ok, with the message made of parts (strings, numbers),
  // built only then; false once anything failed.
  template <class... P>
  bool check(bool ok, const P&... parts) {
    if (!ok && !failed) {
      std::string msg;
      (append(msg, parts), ...);
      fail(msg);
    }
    return !failed;
  }

  // A kernel's allocation failed (an Error, not a TypeError).
  void out_of_memory() {
    if (!failed) napi_throw_error(env, nullptr, "alae_native: out of memory");
    failed = true;
  }

  bool need(size_t n) { return check(argc >= n, "expected ", n, " arguments"); }

  // Argument i as a typed array of T; its element count in *len.
  template <class T>
  T* typed_len(size_t i, size_t* len, const char* what) {
    if (failed) return nullptr;
    bool is = false;
    napi_is_typedarray(env, argv[i], &is);
    napi_typedarray_type type = napi_int8_array;
    void* data = nullptr;
    if (is) napi_get_typedarray_info(env, argv[i], &type, len, &data, nullptr, nullptr);
    if (!check(is && type == ArrayKind<T>::type, what, " must be ", ArrayKind<T>::name)) return nullptr;
    return static_cast<T*>(data);
  }

  // Argument i as a typed array of T with at least min_len elements.
  template <class T>
  T* typed(size_t i, int64_t min_len, const char* what) {
    size_t length = 0;
    T* p = typed_len<T>(i, &length, what);
    return enough(length, min_len, what) ? p : nullptr;
  }

  // Several typed-array arguments (arg(...) each); false after throwing.
  template <class... T>
  bool arrays(ArrayArg<T>... a) {
    ((*a.to = typed<std::remove_const_t<T>>(a.i, a.min_len, a.name)), ...);
    return !failed;
  }

  int64_t integer(size_t i, const char* what) {
    int64_t v = 0;
    if (!failed) check(napi_get_value_int64(env, argv[i], &v) == napi_ok, what, " must be a number");
    return v;
  }

  double number(size_t i, const char* what) {
    double v = 0;
    if (!failed) check(napi_get_value_double(env, argv[i], &v) == napi_ok, what, " must be a number");
    return v;
  }

  // A boolean, or a number read as a flag (non-zero is true).
  bool boolean(size_t i) {
    if (failed) return false;
    bool v = false;
    napi_valuetype t;
    napi_typeof(env, argv[i], &t);
    if (t == napi_boolean) napi_get_value_bool(env, argv[i], &v);
    else if (t == napi_number) v = integer(i, "flag") != 0;
    return v;
  }

  bool enough(size_t have, int64_t want, const char* what) {
    return !failed && check(want >= 0 && int64_t(have) >= want, what, " is too short (", have, " < ", want, ")");
  }

 private:
  static void append(std::string& m, const char* s) { m += s; }
  template <class N, class = std::enable_if_t<std::is_arithmetic_v<N>>>
  static void append(std::string& m, N v) {
    m += std::to_string(v);
  }
};

inline napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// The entry point of a body that takes at least N arguments: body(a) reads
// them and runs the kernel, or stops after a.fail() / a.out_of_memory().
template <size_t N, void (*Body)(Args&)>
napi_value entry(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (a.need(N)) Body(a);
  return a.failed ? nullptr : undefined(env);
}

// Adds the named functions to the addon's exports.
struct Export {
  const char* name;
  napi_callback fn;
};
template <size_t K>
inline void export_functions(napi_env env, napi_value exports, const Export (&fns)[K]) {
  napi_property_descriptor props[K];
  for (size_t i = 0; i < K; ++i) props[i] = {fns[i].name, nullptr, fns[i].fn, nullptr, nullptr, nullptr, napi_default, nullptr};
  napi_define_properties(env, exports, K, props);
}

// {name: code, ...} from a kernel family's op table (kernels/elementwise.h).
template <class Op, size_t K>
inline napi_value op_table(napi_env env, const Op (&ops)[K]) {
  napi_value obj;
  napi_create_object(env, &obj);
  for (size_t i = 0; i < K; ++i) {
    napi_value v;
    napi_create_int32(env, ops[i].code, &v);
    napi_set_named_property(env, obj, ops[i].kernel, v);
  }
  return obj;
}

// [name, ...]: the fields of a params array, in order.
template <size_t K>
inline napi_value layout(napi_env env, const char* const (&names)[K]) {
  napi_value arr;
  napi_create_array_with_length(env, K, &arr);
  for (size_t i = 0; i < K; ++i) {
    napi_value v;
    napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, arr, uint32_t(i), v);
  }
  return arr;
}

// Argument i as a params array of exactly the layout's length (Int32Array)
// whose first `checked` fields (all by default) are at least `min`.
template <size_t K>
inline const int32_t* params(Args& a, size_t i, const char* const (&names)[K], int32_t min, size_t checked = K) {
  size_t len = 0;
  const int32_t* p = a.typed_len<int32_t>(i, &len, "params");
  if (!a.check(a.failed || len == K, "params must have ", K, " entries (", len, " given)")) return nullptr;
  for (size_t k = 0; k < checked; ++k)
    if (!a.check(p[k] >= min, "params: ", names[k], " is below ", min, " (", p[k], ")")) return nullptr;
  return p;
}

}  // namespace alae
