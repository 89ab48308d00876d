// Elementwise, reduction, data-movement and small-window kernels: the tfjs
// cpu kernels that dominate the model outside the convolutions. One family
// per file: binary.cc (broadcast arithmetic, comparisons, select), unary.cc,
// reduce.cc (sum / mean), copy.cc (slice, concat, pad, transpose),
// depthwise.cc (the blur and its gradients), pooling.cc (2x2 average pooling,
// its gradient, nearest 2x up-sampling).
//
// Float semantics follow the cpu kernels: an arithmetic op on two float32
// values rounded to float32 is what JS computes in double and stores into a
// Float32Array (the double rounding is innocuous for + - * / and sqrt).
// Nothing here uses FMA contraction. Sums are accumulated in double and
// rounded once; work is split in chunks of a fixed size, so results do not
// depend on the thread count.
#pragma once

#include <cstdint>

namespace alae {

constexpr int kMaxRank = 8;

// An operation code and the tfjs kernel it implements; the tables are
// exported to TypeScript (ops.binary, ops.compare, ops.unary), which
// registers one kernel per entry.
struct OpCode {
  const char* kernel;
  int code;
};

// ---- binary.cc ------------------------------------------------------------

enum BinOp { kAdd, kSub, kMul, kDiv };
constexpr OpCode kBinaryOps[] = {{"Add", kAdd}, {"Sub", kSub}, {"Multiply", kMul}, {"RealDiv", kDiv}};

// Comparisons produce tfjs bool tensors (Uint8Array of 0 / 1); NaN compares
// false (not-equal: true), as in JS.
enum CmpOp { kGreater, kGreaterEqual, kLess, kLessEqual, kEqual, kNotEqual };
constexpr OpCode kCompareOps[] = {{"Greater", kGreater}, {"GreaterEqual", kGreaterEqual}, {"Less", kLess},
                                  {"LessEqual", kLessEqual}, {"Equal", kEqual},           {"NotEqual", kNotEqual}};

// One collapsed dimension of a broadcast: extent and each operand's element
// stride (0 where it broadcasts). The output is contiguous.
struct BDim {
  int64_t n, sa, sb;
};
struct Broadcast {
  BDim d[kMaxRank];
  int nd = 0;
  int64_t osize = 0;  // elements of the output
};

// numpy broadcasting of shapes a (rank ra) and b (rank rb), collapsed to the
// fewest dimensions (size-1 dimensions dropped, neighbours with the same
// pattern merged); false when they do not broadcast.
bool collapse_broadcast(const int32_t* as, int ra, const int32_t* bs, int rb, Broadcast* out);
// out = a op b; false for an unknown op.
bool binary(int op, const float* a, const float* b, float* out, const Broadcast& bc);
bool compare(int op, const float* a, const float* b, uint8_t* out, const Broadcast& bc);
// out[i] = cond[i] == 1 ? t[i] : e[i]
void select(const uint8_t* cond, const float* t, const float* e, float* out, int64_t n);

// ---- unary.cc -------------------------------------------------------------

enum UnOp { kSquare, kSqrt, kRsqrt, kNeg, kRelu, kLeakyRelu, kStep, kReciprocal };
constexpr OpCode kUnaryOps[] = {{"Square", kSquare}, {"Sqrt", kSqrt},           {"Rsqrt", kRsqrt}, {"Neg", kNeg},
                                {"Relu", kRelu},     {"LeakyRelu", kLeakyRelu}, {"Step", kStep},   {"Reciprocal", kReciprocal}};

// y = op(x) over n elements (alpha: LeakyRelu's slope, Step's value at x <= 0); false for an unknown op.
bool unary(int op, const float* x, float* y, int64_t n, double alpha);

// ---- reduce.cc ------------------------------------------------------------

// Sum (or mean) of x [shape] over the dimensions where mask is non-zero;
// out holds the kept dimensions, row-major.
void reduce(const float* x, float* out, const int32_t* shape, const int32_t* mask, int rank, bool mean);

// ---- copy.cc --------------------------------------------------------------

// dst[sum i_k*ds_k] = src[sum i_k*ss_k] over the index box `shape`.
void strided_copy(const float* src, float* dst, const int64_t* shape, const int64_t* ss, const int64_t* ds, int rank);

// ---- depthwise.cc ---------------------------------------------------------

// A stride-1 depthwise convolution as a sum of shifted taps; the params
// array holds the named fields in this order (layouts.depthwise).
struct DwShape {
  int64_t N, Hs, Ws, C, Hd, Wd;  // source [N,Hs,Ws,C], destination [N,Hd,Wd,C]
  int ntaps;
  const int32_t* off;  // per tap: dy, dx (source offset from the destination pixel)
};
constexpr const char* kDepthwiseLayout[] = {"N", "Hs", "Ws", "C", "Hd", "Wd", "taps"};

// dst[n,y,x,c] = sum_k src[n, y+dy_k, x+dx_k, c] * w[k*C + c] over taps inside src.
void depthwise_taps(const DwShape& s, const float* src, const float* w, float* dst);
// dw[k*C + c] = sum_{n,y,x} src[n, y+dy_k, x+dx_k, c] * dy[n,y,x,c] (dy on the [N,Hd,Wd,C] grid).
void depthwise_filter(const DwShape& s, const float* src, const float* dy, float* dw);

// ---- pooling.cc -----------------------------------------------------------

// Average pooling without padding (every window inside the image); the
// params array holds the fields in this order (layouts.pool).
struct PoolShape {
  int64_t N, H, W, C, Ho, Wo, fh, fw, sh, sw;
};
constexpr const char* kPoolLayout[] = {"N", "H", "W", "C", "Ho", "Wo", "fh", "fw", "sh", "sw"};
static_assert(sizeof(PoolShape) == sizeof(int64_t) * (sizeof(kPoolLayout) / sizeof(kPoolLayout[0])),
              "kPoolLayout names every PoolShape field");

void avg_pool(const PoolShape& s, const float* x, float* y);
// Its gradient for non-overlapping windows (stride = window).
void avg_pool_grad(const PoolShape& s, const float* dy, float* dx);

// Nearest-neighbour 2x up-sampling of x [N, H, W, C] (params: layouts.upsample).
constexpr const char* kUpsampleLayout[] = {"N", "H", "W", "C"};
void upsample2x(int64_t N, int64_t H, int64_t W, int64_t C, const float* x, float* y);

}  // namespace alae
