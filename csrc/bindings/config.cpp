// Build and runtime configuration: version, CPU paths, threads.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings/arrays.h"
#include "bindings/bindings.h"
#include "common/parallel.h"
#include "cpu/cpuinfo.h"
#include "kernels/finite.h"
#include "kernels/gemm.h"

#ifndef PYNNCORE_VERSION
#define PYNNCORE_VERSION "0+unknown"
#endif

namespace pyn {

void bind_config(py::module_& m) {
  m.attr("__version__") = PYNNCORE_VERSION;
#ifdef PYNNCORE_HAS_CUDA
  m.attr("cuda_built") = true;
#else
  m.attr("cuda_built") = false;
#endif
  m.attr("openmp_enabled") = openmp_enabled();
  m.attr("threading_backend") = threading_backend();

  m.def("get_num_threads", &get_num_threads, "Threads kernels use (one parallel team).");
  m.def(
      "set_num_threads",
      [](int n) {
        PYN_CHECK(n >= 1, "set_num_threads: expected an integer >= 1; got ", n);
        set_num_threads(n);
      },
      py::arg("n"));

  m.def("get_deterministic", &deterministic,
        "Whether reductions use a fixed order independent of the thread count.");
  m.def("set_deterministic", &set_deterministic, py::arg("on"));
  m.def("forked_single_threaded", &forked_single_threaded,
        "True in a child process forked after a parallel region ran: kernels use one thread.");

  m.def("get_cpu_path", [] { return std::string(isa_name(current_isa())); });
  m.def(
      "set_cpu_path", [](const std::string& name) { set_isa(parse_isa(name)); },
      py::arg("name"), "Switch the instruction-set path kernels use (for tests and benchmarks).");
  m.def("cpu_paths_available", [] {
    std::vector<std::string> out;
    for (Isa isa : supported_isas()) out.emplace_back(isa_name(isa));
    return out;
  });
  m.def("gemm_kernel", [] { return std::string(gemm_kernel_name()); });
  m.def("release_cached_buffers", &release_cached_buffers,
        "Frees the output buffers kept for reuse; returns how many bytes were freed.");
  m.def("cached_buffer_bytes", &cached_buffer_bytes, "Bytes of output buffers kept for reuse.");
  m.def(
      "empty_f32",
      [](const std::vector<py::ssize_t>& shape) {
        double total = 1.0;
        for (py::ssize_t d : shape) {
          PYN_CHECK(d >= 0, "empty_f32: negative dimension ", d);
          total *= static_cast<double>(d);
        }
        PYN_CHECK(total * sizeof(float) < 9.0e18, "empty_f32: shape too large (", total, " floats)");
        return new_f32(shape).arr;
      },
      py::arg("shape"), "An uninitialised C-contiguous float32 array (large ones from the buffer cache).");
  m.def(
      "count_nonfinite",
      [](const py::array& x) -> int64_t {
        const bool contiguous = (x.flags() & py::array::c_style) != 0;
        const bool f32 = py::isinstance<py::array_t<float>>(x), f64 = py::isinstance<py::array_t<double>>(x);
        if (!contiguous || !(f32 || f64))
          throw py::type_error("count_nonfinite: expected a C-contiguous float32 or float64 array; got dtype " +
                               std::string(py::str(x.dtype())) + (contiguous ? "" : " (not C-contiguous)"));
        const int64_t n = static_cast<int64_t>(x.size());
        py::gil_scoped_release nogil;
        return f32 ? count_nonfinite(static_cast<const float*>(x.data()), n)
                   : count_nonfinite(static_cast<const double*>(x.data()), n);
      },
      py::arg("x"), "Number of NaN and infinite values in x.");
}

}  // namespace pyn
