// The extension module pynncore._core.
#include "bindings/bindings.h"
#include "common/parallel.h"
#include "cpu/cpuinfo.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "pynncore native kernels";
  // Choose the CPU path once, honouring PYNNCORE_CPU; a bad value fails the import.
  pyn::init_isa_from_env();
  pyn::check_threading_env();
  pyn::bind_config(m);
  pyn::bind_gemm(m);
  pyn::bind_activation(m);
  pyn::bind_loss(m);
  pyn::bind_optim(m);
  pyn::bind_dense(m);
  pyn::bind_conv(m);
  pyn::bind_pool(m);
  pyn::bind_norm(m);
  pyn::bind_rnn(m);
  pyn::bind_embedding(m);
}
