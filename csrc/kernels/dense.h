// Inference through a chain of Dense layers in one call (the model-level fast path):
//
//   h_0 = x                                   (rows x in_0, row-major)
//   h_{l+1} = f_l(h_l W_l + b_l)              W_l: (in_l x out_l) row-major, Keras's layout
//                                             b_l: out_l floats or nullptr
//   y = h_L                                   (rows x out_{L-1})
//
// Each layer is one gemm (few rows take its GEMV-shaped kernel) followed by one fused
// bias + activation pass in place (softmax / log_softmax over each row). Intermediate
// activations live in per-thread scratch, so concurrent calls from several threads never
// share memory and steady-state calls do not allocate.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/activation.h"

namespace pyn {

struct DenseLayerRef {
  const float* kernel;  // (in, out) row-major
  const float* bias;    // out floats, or nullptr
  int64_t in, out;
  Act act;
  ActParams params;
};

// Sizes must chain (layers[l].out == layers[l + 1].in); y (rows x layers.back().out) must not
// overlap x or any weight. Throws std::invalid_argument (PYN_CHECK) on bad sizes.
void dense_chain_forward(int64_t rows, const float* x, const std::vector<DenseLayerRef>& layers,
                         float* y, int num_threads = 0);

}  // namespace pyn
