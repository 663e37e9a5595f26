// Binding of the embedding kernels: pynncore._core.embedding_lookup and embedding_grad.
//
// Arrays are checked, never converted: table, grad, out and dy float32 2-D; ids float32,
// int32 or int64 of any shape (n = ids.size); all C-contiguous, aligned, native byte order;
// outputs writable and sharing no memory with the inputs. Both return -1, or the flat
// position of the first id that is not an integer in [0, v), in which case nothing was
// written; pynncore.ops turns that into a ValueError naming the value.
#include "kernels/embedding.h"

#include <string>

#include "bindings/arrays.h"
#include "bindings/bindings.h"

namespace pyn {
namespace {

py::array checked(py::handle h, const std::string& fn, const char* what, bool output) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(fn + ": " + what + " must be a numpy.ndarray; got an object of type " +
                         type_name(h));
  auto a = py::reinterpret_borrow<py::array>(h);
  const int flags = a.flags();
  if (!(flags & kNpyCContiguous) || !(flags & kNpyAligned))
    throw py::value_error(fn + ": " + what + " must be C-contiguous and aligned; got shape " +
                          shape_str(a));
  if (output && !(flags & kNpyWriteable))
    throw py::value_error(fn + ": " + what + " is read-only; it must be writable");
  if (a.dtype().byteorder() == '>')
    throw py::type_error(fn + ": " + what + " must be in native byte order");
  return a;
}

py::array f32_matrix(py::handle h, const std::string& fn, const char* what, bool output) {
  py::array a = checked(h, fn, what, output);
  if (a.dtype().num() != kNpyFloat32)
    throw py::type_error(fn + ": " + what + " must have dtype float32; got dtype " +
                         std::string(py::str(a.dtype())));
  if (a.ndim() != 2)
    throw py::value_error(fn + ": " + what + " must be 2-D; got shape " + shape_str(a));
  return a;
}

// 0: float32, 4: int32, 8: int64.
int id_kind(const py::array& ids, const std::string& fn) {
  py::dtype dt = ids.dtype();
  if (dt.num() == kNpyFloat32) return 0;
  if (dt.kind() == 'i' && (dt.itemsize() == 4 || dt.itemsize() == 8))
    return static_cast<int>(dt.itemsize());
  throw py::type_error(fn + ": ids must have dtype float32, int32 or int64; got dtype " +
                       std::string(py::str(dt)));
}

void check_rows(const py::array& a, int64_t n, int64_t d, const std::string& fn,
                const char* what) {
  if (a.shape(0) != n || a.shape(1) != d)
    throw py::value_error(fn + ": " + what + " must have shape " + shape_str(n, d) +
                          " (ids.size, embedding width); got shape " + shape_str(a));
}

int64_t lookup(py::handle table_h, py::handle ids_h, py::handle out_h) {
  const std::string fn = "embedding_lookup";
  py::array table = f32_matrix(table_h, fn, "table", false);
  py::array ids = checked(ids_h, fn, "ids", false);
  py::array out = f32_matrix(out_h, fn, "out", true);
  const int kind = id_kind(ids, fn);
  const int64_t v = table.shape(0), d = table.shape(1), n = ids.size();
  check_rows(out, n, d, fn, "out");
  const int64_t out_bytes = n * d * 4;
  if (ranges_overlap(out.data(), out_bytes, table.data(), v * d * 4) ||
      ranges_overlap(out.data(), out_bytes, ids.data(), n * ids.itemsize()))
    throw py::value_error(fn + ": out shares memory with table or ids");
  const float* t = static_cast<const float*>(table.data());
  float* o = static_cast<float*>(out.mutable_data());
  const void* p = ids.data();
  return run(static_cast<double>(n * d), [&]() -> int64_t {
    if (kind == 0) return embedding_lookup(t, v, d, static_cast<const float*>(p), n, o);
    if (kind == 4) return embedding_lookup(t, v, d, static_cast<const int32_t*>(p), n, o);
    return embedding_lookup(t, v, d, static_cast<const int64_t*>(p), n, o);
  });
}

int64_t grad(py::handle grad_h, py::handle ids_h, py::handle dy_h) {
  const std::string fn = "embedding_grad";
  py::array g = f32_matrix(grad_h, fn, "grad", true);
  py::array ids = checked(ids_h, fn, "ids", false);
  py::array dy = f32_matrix(dy_h, fn, "dy", false);
  const int kind = id_kind(ids, fn);
  const int64_t v = g.shape(0), d = g.shape(1), n = ids.size();
  check_rows(dy, n, d, fn, "dy");
  const int64_t g_bytes = v * d * 4;
  if (ranges_overlap(g.data(), g_bytes, dy.data(), n * d * 4) ||
      ranges_overlap(g.data(), g_bytes, ids.data(), n * ids.itemsize()))
    throw py::value_error(fn + ": grad shares memory with dy or ids");
  float* gp = static_cast<float*>(g.mutable_data());
  const float* s = static_cast<const float*>(dy.data());
  const void* p = ids.data();
  return run(static_cast<double>(n * d), [&]() -> int64_t {
    if (kind == 0) return embedding_grad(gp, v, d, static_cast<const float*>(p), n, s);
    if (kind == 4) return embedding_grad(gp, v, d, static_cast<const int32_t*>(p), n, s);
    return embedding_grad(gp, v, d, static_cast<const int64_t*>(p), n, s);
  });
}

}  // namespace

void bind_embedding(py::module_& m) {
  m.def("embedding_lookup", &lookup, py::arg("table"), py::arg("ids"), py::arg("out"),
        "out[i, :] = table[ids.flat[i], :] for table float32 (V, D), ids float32 (integer\n"
        "values), int32 or int64 of any shape, out float32 (ids.size, D). Returns -1, or the\n"
        "flat position of the first id that is not an integer in [0, V) (nothing written).");
  m.def("embedding_grad", &grad, py::arg("grad"), py::arg("ids"), py::arg("dy"),
        "grad[ids.flat[i], :] += dy[i, :] for every i (repeated ids accumulate); grad float32\n"
        "(V, D) updated in place, dy float32 (ids.size, D). Returns -1, or the flat position\n"
        "of the first id that is not an integer in [0, V) (nothing written).");
}

}  // namespace pyn
