// See dense.h. Two per-thread scratch buffers hold the hidden activations in turn.
#include "kernels/dense.h"

#include "common/buffer.h"
#include "common/check.h"
#include "kernels/gemm.h"

namespace pyn {
namespace {
thread_local ScratchBuffer tl_hidden[2];
}  // namespace

void dense_chain_forward(int64_t rows, const float* x, const std::vector<DenseLayerRef>& layers,
                         float* y, int num_threads) {
  PYN_CHECK(rows >= 0, "dense_chain_forward: negative row count ", rows);
  PYN_CHECK(!layers.empty(), "dense_chain_forward: no layers");
  for (size_t l = 0; l < layers.size(); ++l) {
    PYN_CHECK(layers[l].in > 0 && layers[l].out > 0, "dense_chain_forward: layer ", l,
              " has shape (", layers[l].in, ", ", layers[l].out, ")");
    if (l > 0)
      PYN_CHECK(layers[l].in == layers[l - 1].out, "dense_chain_forward: layer ", l, " takes ",
                layers[l].in, " inputs but layer ", l - 1, " gives ", layers[l - 1].out);
  }
  if (rows == 0) return;
  const float* h = x;
  for (size_t l = 0; l < layers.size(); ++l) {
    const DenseLayerRef& d = layers[l];
    const bool last = l + 1 == layers.size();
    float* dst = last ? y : tl_hidden[l % 2].floats(static_cast<size_t>(rows * d.out));
    gemm(false, false, rows, d.out, d.in, 1.f, h, d.in, d.kernel, d.out, 0.f, dst, d.out,
         num_threads);
    if (activation_is_rowwise(d.act))
      softmax_forward(d.act, rows, d.out, dst, d.bias, dst, num_threads);
    else if (d.act != Act::kLinear || d.bias != nullptr)
      activation_forward(d.act, rows * d.out, dst, d.bias, d.bias ? d.out : 0, dst, d.params,
                         num_threads);
    h = dst;
  }
}

}  // namespace pyn
