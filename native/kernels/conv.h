// The convolutions (conv.cc): NHWC images, HWIO filters. All return false on
// allocation failure (nothing is thrown: the addon is built without
// exceptions).
#pragma once

#include <cstddef>

namespace alae {

// The geometry of a convolution, as the addon's params array carries it: the
// names below, in this order, are exported to TypeScript (layouts.conv).
struct ConvShape {
  int batch, inH, inW, inC;    // x / dx: NHWC
  int outH, outW, outC;        // y / dy: NHWC
  int kH, kW;                  // filter: HWIO [kH, kW, inC, outC]
  int strideH, strideW;
  int dilH, dilW;
  int padTop, padLeft;
};
constexpr const char* kConvLayout[] = {"batch", "inH",     "inW",     "inC",  "outH", "outW",   "outC",   "kH",
                                       "kW",    "strideH", "strideW", "dilH", "dilW", "padTop", "padLeft"};
static_assert(sizeof(ConvShape) == sizeof(int) * (sizeof(kConvLayout) / sizeof(kConvLayout[0])),
              "kConvLayout names every ConvShape field");

// precise: accumulate each output in double and round once; else float32.
bool conv2d(const ConvShape& s, const float* x, const float* w, float* y, bool precise);
bool conv2d_backprop_input(const ConvShape& s, const float* dy, const float* w, float* dx);
bool conv2d_backprop_filter(const ConvShape& s, const float* x, const float* dy, float* dw);

}  // namespace alae
