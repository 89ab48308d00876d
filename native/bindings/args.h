// Argument reading for the N-API entry points (every file in bindings/): one
// place that checks types and lengths, so a wrong call from JS throws a
// TypeError naming the argument instead of reading or writing out of bounds;
// and the export helpers (functions, op tables, params layouts).
#pragma once

#include <node_api.h>

#include <cstdint>
#include <string>

namespace alae {

struct Args {
  napi_env env;
  napi_value argv[12];
  size_t argc = 12;
  bool failed = false;

  Args(napi_env e, napi_callback_info info) : env(e) {
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) fail("bad arguments");
  }

  void fail(const std::string& msg) {
    if (!failed) napi_throw_type_error(env, nullptr, ("alae_native: " + msg).c_str());
    failed = true;
  }

  bool need(size_t n) {
    if (argc < n) fail("expected " + std::to_string(n) + " arguments");
    return !failed;
  }

  // Argument i as a typed array of type `want`; its element count in *len.
  template <class T>
  T* typed_len(size_t i, napi_typedarray_type want, size_t* len, const char* what) {
    if (failed) return nullptr;
    bool is = false;
    napi_is_typedarray(env, argv[i], &is);
    if (!is) {
      fail(std::string(what) + " must be a typed array");
      return nullptr;
    }
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    napi_get_typedarray_info(env, argv[i], &type, &length, &data, nullptr, nullptr);
    if (type != want) {
      fail(std::string(what) + (want == napi_float32_array ? " must be a Float32Array"
                                : want == napi_uint8_array ? " must be a Uint8Array" : " must be an Int32Array"));
      return nullptr;
    }
    *len = length;
    return static_cast<T*>(data);
  }

  // Argument i as a typed array of type `want` with at least min_len elements.
  template <class T>
  T* typed(size_t i, napi_typedarray_type want, int64_t min_len, const char* what) {
    size_t length = 0;
    T* p = typed_len<T>(i, want, &length, what);
    if (p && !enough(length, min_len, what)) return nullptr;
    return p;
  }

  float* f32(size_t i, size_t* len, const char* what) { return typed_len<float>(i, napi_float32_array, len, what); }
  const int32_t* i32(size_t i, size_t* len, const char* what) { return typed_len<int32_t>(i, napi_int32_array, len, what); }

  int64_t integer(size_t i, const char* what) {
    if (failed) return 0;
    int64_t v = 0;
    if (napi_get_value_int64(env, argv[i], &v) != napi_ok) fail(std::string(what) + " must be a number");
    return v;
  }

  double number(size_t i, const char* what) {
    if (failed) return 0;
    double v = 0;
    if (napi_get_value_double(env, argv[i], &v) != napi_ok) fail(std::string(what) + " must be a number");
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
    if (failed) return false;
    if (want < 0 || int64_t(have) < want) fail(std::string(what) + " is too short (" + std::to_string(have) + " < " + std::to_string(want) + ")");
    return !failed;
  }
};

inline napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
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

// Argument i as a params array of exactly the layout's length (Int32Array).
template <size_t K>
inline const int32_t* params(Args& a, size_t i, const char* const (&names)[K]) {
  size_t len = 0;
  const int32_t* p = a.i32(i, &len, "params");
  if (!p) return nullptr;
  if (len != K) {
    a.fail("params must have " + std::to_string(K) + " entries (" + std::to_string(len) + " given)");
    return nullptr;
  }
  return p;
}

}  // namespace alae
