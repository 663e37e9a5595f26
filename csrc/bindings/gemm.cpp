// Binding of the GEMM kernel: pynncore._core.matmul.
#include "kernels/gemm.h"

#include <cstring>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"

namespace pyn {
namespace {


py::object matmul(py::handle a_h, py::handle b_h, bool transpose_a, bool transpose_b,
                  py::handle out_h, float alpha, float beta) {
  MatView a, b;
  if (!as_mat_view(a_h, &a) || !as_mat_view(b_h, &b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);

  const int64_t m = transpose_a ? a.cols : a.rows, ka = transpose_a ? a.rows : a.cols;
  const int64_t kb = transpose_b ? b.cols : b.rows, n = transpose_b ? b.rows : b.cols;
  if (ka != kb)
    throw py::value_error("matmul: inner dimensions do not match: a has shape " +
                          shape_str(a.rows, a.cols) + (transpose_a ? " (transposed)" : "") +
                          " and b has shape " + shape_str(b.rows, b.cols) +
                          (transpose_b ? " (transposed)" : "") + ", so op(a) is " +
                          shape_str(m, ka) + " and op(b) is " + shape_str(kb, n));
  const int64_t k = ka;

  py::object result;
  float* c;
  if (out_h.is_none()) {
    if (beta != 0.f)
      throw py::value_error("matmul: beta=" + std::to_string(beta) +
                            " needs an `out` array holding C; got out=None");
    py::array_t<float> r({m, n});
    c = r.mutable_data();
    result = std::move(r);
  } else {
    c = checked_output(out_h, "matmul: out", m, n);
    result = py::reinterpret_borrow<py::object>(out_h);
  }
  if (m == 0 || n == 0) return result;

  // Writing into memory that a or b still need: compute into a temporary, then copy.
  const int64_t c_bytes = m * n * 4;
  const bool alias = ranges_overlap(c, c_bytes, a.data, a.extent_bytes) ||
                     ranges_overlap(c, c_bytes, b.data, b.extent_bytes);
  std::vector<float> tmp;
  float* dst = c;
  if (alias) {
    tmp.assign(c, c + m * n);
    dst = tmp.data();
  }
  const bool ta = transpose_a != a.transposed, tb = transpose_b != b.transposed;
  run(2.0 * m * n * k,
      [&] { gemm(ta, tb, m, n, k, alpha, a.data, a.ld, b.data, b.ld, beta, dst, n); },
      kReleaseGilFlops);
  if (alias) std::memcpy(c, dst, static_cast<size_t>(c_bytes));
  return result;
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("transpose_a") = false,
        py::arg("transpose_b") = false, py::arg("out") = py::none(), py::arg("alpha") = 1.0f,
        py::arg("beta") = 0.0f,
        "alpha * op(a) @ op(b) + beta * out for float32 2-D arrays with one unit-stride axis.\n"
        "Returns NotImplemented when an input needs converting (pynncore.ops.matmul does it).");
  m.def(
      "fma_peak_gflops",
      [](int num_threads, double seconds) {
        PYN_CHECK(num_threads >= 1, "fma_peak_gflops: num_threads must be >= 1; got ",
                  num_threads);
        PYN_CHECK(seconds > 0 && seconds <= 60, "fma_peak_gflops: seconds must be in (0, 60]; got ",
                  seconds);
        py::gil_scoped_release nogil;
        return fma_peak_gflops(num_threads, seconds);
      },
      py::arg("num_threads"), py::arg("seconds") = 0.2,
      "Peak fp32 GFLOP/s of the current CPU path, measured now by an FMA loop on num_threads "
      "threads.");
}

}  // namespace pyn
