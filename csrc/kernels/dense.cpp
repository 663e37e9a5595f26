// See dense.h. Two per-thread scratch buffers hold the hidden activations in turn.
#include "kernels/dense.h"

#include <algorithm>
#include <vector>

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

namespace {

void check_chain(const std::vector<DenseTrainLayer>& layers, const char* fn) {
  PYN_CHECK(!layers.empty(), fn, ": no layers");
  for (size_t l = 0; l < layers.size(); ++l) {
    const DenseLayerRef& d = layers[l].ref;
    PYN_CHECK(d.in > 0 && d.out > 0, fn, ": layer ", l, " has shape (", d.in, ", ", d.out, ")");
    if (l > 0)
      PYN_CHECK(d.in == layers[l - 1].ref.out, fn, ": layer ", l, " takes ", d.in,
                " inputs but layer ", l - 1, " gives ", layers[l - 1].ref.out);
  }
}

}  // namespace

void dense_chain_train_forward(int64_t rows, const float* x, const std::vector<DenseTrainLayer>& layers,
                               const std::vector<float*>& hs, const std::vector<float*>& zs,
                               int num_threads) {
  check_chain(layers, "dense_chain_train_forward");
  PYN_CHECK(hs.size() == layers.size() && zs.size() == layers.size(),
            "dense_chain_train_forward: one output buffer per layer");
  if (rows == 0) return;
  const float* h = x;
  for (size_t l = 0; l < layers.size(); ++l) {
    const DenseLayerRef& d = layers[l].ref;
    float* z = zs[l] != nullptr ? zs[l] : hs[l];
    gemm(false, false, rows, d.out, d.in, 1.f, h, d.in, d.kernel, d.out, 0.f, z, d.out, num_threads);
    if (activation_is_rowwise(d.act)) {
      softmax_forward(d.act, rows, d.out, z, d.bias, hs[l], num_threads);
    } else if (zs[l] != nullptr) {
      // keep z (with the bias) for the backward pass, write f(z) beside it
      if (d.bias != nullptr)
        activation_forward(Act::kLinear, rows * d.out, z, d.bias, d.out, z, default_activation_params(Act::kLinear),
                           num_threads);
      activation_forward(d.act, rows * d.out, z, nullptr, 0, hs[l], d.params, num_threads);
    } else if (d.act != Act::kLinear || d.bias != nullptr) {
      activation_forward(d.act, rows * d.out, z, d.bias, d.bias ? d.out : 0, hs[l], d.params, num_threads);
    }
    h = hs[l];
  }
}

void dense_chain_train_backward(int64_t rows, const float* x, const std::vector<DenseTrainLayer>& layers,
                                const std::vector<float*>& hs, const std::vector<float*>& zs, float* dy,
                                float* work, bool accumulate, int num_threads) {
  check_chain(layers, "dense_chain_train_backward");
  PYN_CHECK(hs.size() == layers.size() && zs.size() == layers.size(),
            "dense_chain_train_backward: one output buffer per layer");
  if (rows == 0) {
    if (!accumulate)
      for (const DenseTrainLayer& t : layers) {
        if (t.kernel_grad) std::fill(t.kernel_grad, t.kernel_grad + t.ref.in * t.ref.out, 0.f);
        if (t.bias_grad) std::fill(t.bias_grad, t.bias_grad + t.ref.out, 0.f);
      }
    return;
  }
  int64_t max_in = 0;
  for (const DenseTrainLayer& t : layers) max_in = std::max(max_in, t.ref.in);
  float* g = dy;  // dL/dh_l, rows x out_l; becomes dz in place
  for (size_t i = layers.size(); i-- > 0;) {
    const DenseTrainLayer& t = layers[i];
    const DenseLayerRef& d = t.ref;
    if (activation_is_rowwise(d.act))
      softmax_backward(d.act, rows, d.out, hs[i], g, g, num_threads);
    else if (d.act != Act::kLinear)
      activation_backward(d.act, rows * d.out, zs[i], hs[i], g, g, d.params, num_threads);
    const float* h_prev = i == 0 ? x : hs[i - 1];
    if (t.kernel_grad != nullptr) {
      gemm(true, false, d.in, d.out, rows, 1.f, h_prev, d.in, g, d.out, accumulate ? 1.f : 0.f, t.kernel_grad,
           d.out, num_threads);
    }
    if (t.bias_grad != nullptr) {
      // column sums in double, row by row (the rows are contiguous); per-thread storage
      thread_local std::vector<double> acc;
      acc.assign(static_cast<size_t>(d.out), 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const float* gr = g + r * d.out;
        for (int64_t j = 0; j < d.out; ++j) acc[static_cast<size_t>(j)] += gr[j];
      }
      for (int64_t j = 0; j < d.out; ++j)
        t.bias_grad[j] = static_cast<float>((accumulate ? t.bias_grad[j] : 0.0) + acc[static_cast<size_t>(j)]);
    }
    if (i == 0) break;
    // dL/dh_{i-1} = dz W^T into one of the two work halves (dy itself may be narrower)
    float* next = g == work ? work + rows * max_in : work;
    gemm(false, true, rows, d.in, d.out, 1.f, g, d.out, d.kernel, d.out, 0.f, next, d.in, num_threads);
    g = next;
  }
}

}  // namespace pyn
