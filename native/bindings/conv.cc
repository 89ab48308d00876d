// conv2d, conv2dBackpropInput and conv2dBackpropFilter (kernels/conv.h).
#include "../kernels/conv.h"

#include <cstdint>
#include <cstring>

#include "args.h"
#include "bindings.h"

namespace alae {
namespace {

constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;

// Argument 3, the params Int32Array, holds ConvShape's fields in order
// (kConvLayout); the pads may be negative.
bool conv_shape(Args& a, ConvShape* s) {
  const int32_t* p = params(a, 3, kConvLayout, 0, 13);
  if (!p) return false;
  std::memcpy(s, p, sizeof(ConvShape));
  const int64_t in = int64_t{s->batch} * s->inH * s->inW * s->inC;
  const int64_t out = int64_t{s->batch} * s->outH * s->outW * s->outC;
  const int64_t filt = int64_t{s->kH} * s->kW * s->inC * s->outC;
  const int64_t cols = int64_t{s->batch} * s->outH * s->outW;
  return a.check(s->strideH >= 1 && s->strideW >= 1 && s->dilH >= 1 && s->dilW >= 1, "strides and dilations must be >= 1") &&
         a.check(in <= kMaxDim * 4 && out <= kMaxDim * 4 && filt <= kMaxDim && cols <= kMaxDim &&
                     int64_t{s->kH} * s->kW * s->inC <= kMaxDim,
                 "tensor too large");
}

// An operand of a convolution: its name and which tensor's size it has.
enum Size { kIn, kOut, kFilter };
struct Operand {
  const char* name;
  Size size;
};

// What the three entry points share: (p, q, out, params, ...) read, each
// array at least its operand's size.
struct ConvCall {
  ConvShape s;
  const float *p = nullptr, *q = nullptr;
  float* out = nullptr;
};
bool conv_call(Args& a, Operand p, Operand q, Operand out, ConvCall* c) {
  if (!conv_shape(a, &c->s)) return false;
  const ConvShape& s = c->s;
  const int64_t sizes[] = {int64_t{s.batch} * s.inH * s.inW * s.inC, int64_t{s.batch} * s.outH * s.outW * s.outC,
                           int64_t{s.kH} * s.kW * s.inC * s.outC};
  return a.arrays(arg(0, &c->p, p.name, sizes[p.size]), arg(1, &c->q, q.name, sizes[q.size]),
                  arg(2, &c->out, out.name, sizes[out.size]));
}

// conv2d(x, w, y, params, precise): precise accumulates in double and rounds once.
void Conv2D(Args& a) {
  ConvCall c;
  if (conv_call(a, {"x", kIn}, {"filter", kFilter}, {"y", kOut}, &c) && !conv2d(c.s, c.p, c.q, c.out, a.boolean(4)))
    a.out_of_memory();
}

// conv2dBackpropInput(dy, w, dx, params)
void Conv2DBackpropInput(Args& a) {
  ConvCall c;
  if (conv_call(a, {"dy", kOut}, {"filter", kFilter}, {"dx", kIn}, &c) && !conv2d_backprop_input(c.s, c.p, c.q, c.out))
    a.out_of_memory();
}

// conv2dBackpropFilter(x, dy, dw, params)
void Conv2DBackpropFilter(Args& a) {
  ConvCall c;
  if (conv_call(a, {"x", kIn}, {"dy", kOut}, {"dw", kFilter}, &c) && !conv2d_backprop_filter(c.s, c.p, c.q, c.out))
    a.out_of_memory();
}

}  // namespace

void register_conv(napi_env env, napi_value exports) {
  export_functions(env, exports, {{"conv2d", entry<5, Conv2D>},
                                  {"conv2dBackpropInput", entry<4, Conv2DBackpropInput>},
                                  {"conv2dBackpropFilter", entry<4, Conv2DBackpropFilter>}});
}

}  // namespace alae
