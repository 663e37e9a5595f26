// Recurrent layers over whole sequences: SimpleRNN, LSTM and GRU with Keras 3 layouts.
//
// Shapes (row-major, batch-major like Keras): x (N, T, I), states (N, U), outputs (N, T, U)
// with return_sequences, else (N, U). G is the number of gate columns:
//
//   cell       G    kernel K (I, G)   recurrent R (U, G)   bias              gate order
//   simple     U    x K               h R                  (U,)              -
//   lstm       4U                                          (4U,)             i, f, c, o
//   gru        3U                                          (3U,) or (2, 3U)  z, r, h
//
// With a = activation (tanh), s = recurrent_activation (sigmoid), x_t K + b = gx:
//
//   simple   h = a(gx + h' R)
//   lstm     [zi zf zc zo] = gx + h' R;  i = s(zi), f = s(zf), g = a(zc), o = s(zo)
//            c = f c_prev + i g;  h = o a(c)
//   gru      reset_after (bias (2, 3U): b_in = bias[0], b_rec = bias[1]):
//              gh = h' R + b_rec;  z = s(gx_z + gh_z);  r = s(gx_r + gh_r)
//              hh = a(gx_h + r gh_h)
//            reset_before (bias (3U,)):
//              z = s(gx_z + h' R_z);  r = s(gx_r + h' R_r);  hh = a(gx_h + (r h') R_h)
//            h = z h_prev + (1 - z) hh
//
// h' is the previous state times the recurrent dropout mask rm (N, U) when one is given (one
// mask shared by all gates), else the previous state itself. Masks (N, T) (nonzero = keep)
// follow Keras: at a masked step the states keep their previous values and the output repeats
// the previous output (zeros before the first unmasked step).
//
// Computation: the input projection of all timesteps is one GEMM (N T, I) x (I, G) (the LSTM
// with Keras's activations instead adds x_t K into each step's product, see rnn.cpp). The
// batch rows are split across threads; each thread runs its own recurrence over all timesteps
// with one GEMM (rows, U) x (U, G) per step followed by the fused gate math, and no barrier
// between steps. Small batches run on one thread whose per-step GEMM may itself use threads.
// The backward pass (BPTT) runs the same split in reverse. Each step's gate gradients dG_t
// (rows, G) give dh' = dG_t R^T and dx_t = dG_t K^T at once (R^T and K^T packed once per
// call), while dG_t is in cache. The weight gradients
//   dK += X^T dG,  dR += H'^T dG,  db += colsum(dG)
// are, for LSTM and SimpleRNN, one product W = [x | h' | 1]^T dG that each thread adds up
// every few steps over the dG rows of those steps (about 256 rows, still in L2; dG of the
// whole sequence is never stored), one W per thread summed at the end. GRU keeps dG of all
// steps and runs the weight-gradient GEMMs over all timesteps at once.
//
// Training storage (written by the forward pass when `saved` is not null, read by backward):
//   saved (N, T, S): simple S = U [h]; lstm S = 5U [i, f, g, o, a(c)];
//                    gru reset_after S = 4U [z, r, hh, gh_h]; gru reset_before S = 3U [z, r, hh]
//   h_prev (N, T, U): the state entering each step (h_prev[:, 0] = h0)
//   c_prev (N, T, U): lstm only, the cell state entering each step
// Activations must have a derivative that can be read from their output (tanh, sigmoid, relu,
// hard_sigmoid, linear, elu, ...): rnn_activation_supported says which.
#pragma once

#include <cstdint>

#include "kernels/activation.h"

namespace pyn {

enum class RnnCell : int { kSimple = 0, kLstm = 1, kGru = 2 };

struct RnnSpec {
  RnnCell cell = RnnCell::kLstm;
  Act activation = Act::kTanh;
  Act recurrent_activation = Act::kSigmoid;
  ActParams act_params;
  ActParams rec_params;
  bool reset_after = true;  // gru only
  int64_t batch = 0, steps = 0, features = 0, units = 0;
};

// Gate columns G, bias length, and floats saved per (sample, step) for backward.
int64_t rnn_gates(const RnnSpec& s);
int64_t rnn_bias_size(const RnnSpec& s);
int64_t rnn_saved_width(const RnnSpec& s);
// True when the activation can be used by the recurrent kernels (elementwise, derivative
// readable from the output).
bool rnn_activation_supported(Act a);
// Throws std::invalid_argument when sizes or activations are not usable.
void rnn_check_spec(const RnnSpec& s, const char* fn);

struct RnnForwardArgs {
  const float* x = nullptr;                 // (N, T, I)
  const float* kernel = nullptr;            // (I, G)
  const float* recurrent_kernel = nullptr;  // (U, G)
  const float* bias = nullptr;              // nullptr or rnn_bias_size floats
  const float* h0 = nullptr;                // nullptr (zeros) or (N, U)
  const float* c0 = nullptr;                // lstm: nullptr (zeros) or (N, U)
  const uint8_t* mask = nullptr;            // nullptr or (N, T)
  const float* rec_mask = nullptr;          // nullptr or (N, U)
  float* y = nullptr;                       // (N, T, U) or (N, U)
  bool return_sequences = false;
  float* h_out = nullptr;   // (N, U) final state
  float* c_out = nullptr;   // lstm: (N, U) final cell state
  float* saved = nullptr;   // training: (N, T, S); nullptr in inference
  float* h_prev = nullptr;  // training: (N, T, U)
  float* c_prev = nullptr;  // training, lstm: (N, T, U)
};

void rnn_forward(const RnnSpec& s, const RnnForwardArgs& a, int num_threads = 0);

struct RnnBackwardArgs {
  const float* x = nullptr;                 // (N, T, I) as given to the forward pass
  const float* kernel = nullptr;            // (I, G)
  const float* recurrent_kernel = nullptr;  // (U, G)
  const uint8_t* mask = nullptr;            // as in the forward pass
  const float* rec_mask = nullptr;          // as in the forward pass
  const float* saved = nullptr;             // from the forward pass
  const float* h_prev = nullptr;
  const float* c_prev = nullptr;
  const float* dy = nullptr;       // nullptr (zeros) or shaped like the forward y
  bool return_sequences = false;
  const float* dh_last = nullptr;  // nullptr or (N, U): gradient of the final state
  const float* dc_last = nullptr;  // lstm: nullptr or (N, U)
  float* dx = nullptr;             // nullptr or (N, T, I): written
  float* dkernel = nullptr;        // (I, G): accumulated
  float* drecurrent = nullptr;     // (U, G): accumulated
  float* dbias = nullptr;          // nullptr or rnn_bias_size floats: accumulated
  float* dh0 = nullptr;            // (N, U): written
  float* dc0 = nullptr;            // lstm: nullptr or (N, U): written
};

void rnn_backward(const RnnSpec& s, const RnnBackwardArgs& a, int num_threads = 0);

}  // namespace pyn
