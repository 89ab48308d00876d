// The generator's fused layer epilogue (style_epilogue.cc): noise, bias,
// leaky ReLU, instance norm and style modulation, forward and backward.
#pragma once

#include <cstdint>

namespace alae {

// x [N, H, W, C] (NHWC), noise [noiseBatch (1 or N), H, W, 1]; the params
// array holds the fields in this order (layouts.styleEpilogue).
struct StyleEpilogueShape {
  int64_t N, H, W, C, noiseBatch;
  int64_t M() const { return H * W; }
};
constexpr const char* kStyleEpilogueLayout[] = {"N", "H", "W", "C", "noiseBatch"};

// out = style-modulated instance norm of leaky(x + nw * noise + bias); keeps
// normed, the leaky mask (h > 0) and the per-(sample, channel) sd for the backward.
void style_epilogue_forward(const StyleEpilogueShape& s, const float* x, const float* noise, const float* nw,
                            const float* bias, const float* style, float eps, float* out, float* normed, uint8_t* mask,
                            float* sd);
// First-order gradients of the forward: dx, dnw [C], db [C], dstyle [N, 2C].
void style_epilogue_backward(const StyleEpilogueShape& s, const float* dy, const float* normed, const uint8_t* mask,
                             const float* sd, const float* style, const float* noise, float* dx, float* dnw, float* db,
                             float* dstyle);

}  // namespace alae
