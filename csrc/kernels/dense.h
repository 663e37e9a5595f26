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

// Training through a chain of Dense layers, in two calls around the loss:
//
//   forward:  h_l = f_l(h_{l-1} W_l + b_l) into hs[l] (rows x out_l); z_l (the pre-activation)
//             also into zs[l] when f_l's backward reads it (zs[l] may be nullptr otherwise).
//   backward: from dy = dL/dh_L (rows x out_L, overwritten), for l = L..1:
//               dz   = dy * f_l'(.)                      (softmax rows: the Jacobian product)
//               dW_l = h_{l-1}^T dz    (+= when accumulate)    db_l = column sums of dz (+=)
//               dy   = dz W_l^T        (not formed for the first layer)
//             A layer with kernel_grad == nullptr is frozen: no dW/db, only dy passes.
// work: scratch of 2 * rows * max(in_l) floats for the dy passed down.
struct DenseTrainLayer {
  DenseLayerRef ref;
  float* kernel_grad;  // (in, out) or nullptr
  float* bias_grad;    // out floats or nullptr
};

void dense_chain_train_forward(int64_t rows, const float* x, const std::vector<DenseTrainLayer>& layers,
                               const std::vector<float*>& hs, const std::vector<float*>& zs,
                               int num_threads = 0);
void dense_chain_train_backward(int64_t rows, const float* x, const std::vector<DenseTrainLayer>& layers,
                                const std::vector<float*>& hs, const std::vector<float*>& zs, float* dy,
                                float* work, bool accumulate, int num_threads = 0);

}  // namespace pyn
