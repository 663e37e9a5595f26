// Binding of the loss kernels: pynncore._core.loss.
//
// Every array is checked, never converted: float32 (labels int32/int64), C-contiguous and
// aligned; outputs also writable and not sharing memory with anything else. pynncore.ops
// converts inputs once before calling.
#include "kernels/loss.h"

#include <string>

#include "bindings/arrays.h"
#include "bindings/bindings.h"

namespace pyn {
namespace {

py::array as_ndarray(py::handle h, const std::string& fn, const char* what, const char* dtype) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(fn + ": " + what + " must be a numpy.ndarray of dtype " + dtype +
                         "; got an object of type " + type_name(h));
  return py::reinterpret_borrow<py::array>(h);
}

void require_layout(const py::array& a, const std::string& fn, const char* what, bool output) {
  const int flags = a.flags();
  const char* why = output ? " (it is written in place, never copied)" : "";
  if (!(flags & kNpyCContiguous))
    throw py::value_error(fn + ": " + what + " must be C-contiguous" + why +
                          "; got a non-contiguous array of shape " + shape_str(a));
  if (!(flags & kNpyAligned))
    throw py::value_error(fn + ": " + what + " must be aligned" + why + "; got an unaligned array");
  if (output && !(flags & kNpyWriteable))
    throw py::value_error(fn + ": " + what + " is read-only; it must be writable");
}

py::array f32_array(py::handle h, const std::string& fn, const char* what, bool output) {
  py::array a = as_ndarray(h, fn, what, "float32");
  if (!is_f32_array(a)) {
    py::dtype dt = a.dtype();
    if (dt.num() != kNpyFloat32 || dt.byteorder() == '>')
      throw py::type_error(fn + ": " + what + " must have dtype float32; got dtype " +
                           std::string(py::str(dt)));
  }
  require_layout(a, fn, what, output);
  return a;
}

bool same_shape(const py::array& a, const py::array& b) {
  if (a.ndim() != b.ndim()) return false;
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    if (a.shape(i) != b.shape(i)) return false;
  return true;
}

// (n,) and (n, 1) describe the same column.
bool same_column(const py::array& a, const py::array& b) {
  auto column = [](const py::array& x, int64_t* n) {
    if (x.ndim() == 1) {
      *n = x.shape(0);
      return true;
    }
    if (x.ndim() == 2 && x.shape(1) == 1) {
      *n = x.shape(0);
      return true;
    }
    return false;
  };
  int64_t na, nb;
  return column(a, &na) && column(b, &nb) && na == nb;
}

struct Span {
  const void* ptr;
  int64_t bytes;
  const char* what;
};

void loss(const std::string& name, py::handle y_true_h, py::handle y_pred_h,
          py::handle per_sample_h, py::handle grad_h, py::handle row_scale_h, bool from_logits,
          float delta, float label_smoothing) {
  const LossKind kind = parse_loss_kind(name);
  const std::string fn = loss_name(kind);
  LossParams params;
  params.from_logits = from_logits;
  params.delta = delta;
  params.label_smoothing = label_smoothing;
  check_loss_params(kind, params);

  py::array y_pred = f32_array(y_pred_h, fn, "y_pred", false);
  if (y_pred.ndim() != 1 && y_pred.ndim() != 2)
    throw py::value_error(fn + ": y_pred must have shape (N, C) or (N,); got shape " +
                          shape_str(y_pred));
  const int64_t n = y_pred.shape(0), c = y_pred.ndim() == 2 ? y_pred.shape(1) : 1;
  if (c == 0)
    throw py::value_error(fn + ": y_pred must have at least one column; got shape " +
                          shape_str(y_pred));

  const bool sparse = kind == LossKind::kSparseCategoricalCrossentropy;
  py::array y_true;
  int label_bytes = 0;
  if (sparse) {
    y_true = as_ndarray(y_true_h, fn, "y_true (labels)", "int32 or int64");
    py::dtype dt = y_true.dtype();
    if (dt.kind() != 'i' || (dt.itemsize() != 4 && dt.itemsize() != 8) || dt.byteorder() == '>')
      throw py::type_error(fn + ": y_true (labels) must have dtype int32 or int64; got dtype " +
                           std::string(py::str(dt)));
    label_bytes = static_cast<int>(dt.itemsize());
    require_layout(y_true, fn, "y_true (labels)", false);
    const bool ok = (y_true.ndim() == 1 && y_true.shape(0) == n) ||
                    (y_true.ndim() == 2 && y_true.shape(0) == n && y_true.shape(1) == 1);
    if (!ok)
      throw py::value_error(fn + ": y_true (labels) must have shape (" + std::to_string(n) +
                            ",) or (" + std::to_string(n) + ", 1) for y_pred of shape " +
                            shape_str(y_pred) + "; got shape " + shape_str(y_true));
  } else {
    y_true = f32_array(y_true_h, fn, "y_true", false);
    if (!same_shape(y_true, y_pred) && !same_column(y_true, y_pred))
      throw py::value_error(fn + ": y_true must have the shape of y_pred " + shape_str(y_pred) +
                            "; got shape " + shape_str(y_true));
  }

  py::array per_sample = f32_array(per_sample_h, fn, "per_sample", true);
  if (per_sample.ndim() != 1 || per_sample.shape(0) != n)
    throw py::value_error(fn + ": per_sample must have shape (" + std::to_string(n) +
                          ",); got shape " + shape_str(per_sample));
  float* grad = nullptr;
  py::array grad_arr;
  if (!grad_h.is_none()) {
    grad_arr = f32_array(grad_h, fn, "grad", true);
    if (!same_shape(grad_arr, y_pred))
      throw py::value_error(fn + ": grad must have the shape of y_pred " + shape_str(y_pred) +
                            "; got shape " + shape_str(grad_arr));
    grad = static_cast<float*>(grad_arr.mutable_data());
  }
  const float* row_scale = nullptr;
  if (!row_scale_h.is_none()) {
    py::array rs = f32_array(row_scale_h, fn, "row_scale", false);
    if (rs.ndim() != 1 || rs.shape(0) != n)
      throw py::value_error(fn + ": row_scale must have shape (" + std::to_string(n) +
                            ",); got shape " + shape_str(rs));
    row_scale = static_cast<const float*>(rs.data());
  }

  // Outputs must not share memory with the inputs or with each other.
  const Span outputs[] = {{per_sample.data(), n * 4, "per_sample"},
                          {grad, grad != nullptr ? n * c * 4 : 0, "grad"}};
  const Span inputs[] = {{y_pred.data(), n * c * 4, "y_pred"},
                         {y_true.data(), sparse ? n * label_bytes : n * c * 4, "y_true"},
                         {row_scale, row_scale != nullptr ? n * 4 : 0, "row_scale"}};
  for (const Span& o : outputs) {
    for (const Span& i : inputs)
      if (ranges_overlap(o.ptr, o.bytes, i.ptr, i.bytes))
        throw py::value_error(fn + ": " + o.what + " shares memory with " + i.what +
                              "; outputs must be separate arrays");
  }
  if (ranges_overlap(outputs[0].ptr, outputs[0].bytes, outputs[1].ptr, outputs[1].bytes))
    throw py::value_error(fn + ": per_sample shares memory with grad");

  float* ps = static_cast<float*>(per_sample.mutable_data());
  const float* yp = static_cast<const float*>(y_pred.data());
  auto compute = [&] {
    if (!sparse) {
      loss_forward_backward(kind, n, c, static_cast<const float*>(y_true.data()), yp, ps, grad,
                            row_scale, params);
    } else if (label_bytes == 4) {
      sparse_crossentropy_forward_backward(n, c, static_cast<const int32_t*>(y_true.data()), yp,
                                           ps, grad, row_scale, params);
    } else {
      sparse_crossentropy_forward_backward(n, c, static_cast<const int64_t*>(y_true.data()), yp,
                                           ps, grad, row_scale, params);
    }
  };
  run(static_cast<double>(n * c), compute);
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def("loss", &loss, py::arg("name"), py::arg("y_true"), py::arg("y_pred"),
        py::arg("per_sample"), py::arg("grad") = py::none(), py::arg("row_scale") = py::none(),
        py::kw_only(), py::arg("from_logits") = false, py::arg("delta") = 1.0f,
        py::arg("label_smoothing") = 0.0f,
        "Per-sample loss (Keras 3 semantics) into per_sample (N,), and optionally its gradient\n"
        "w.r.t. y_pred into grad, row i scaled by row_scale[i]. y_pred is float32 (N, C) or\n"
        "(N,); y_true has its shape (or (N,) <-> (N, 1)), or holds int32/int64 labels (N,) or\n"
        "(N, 1) for 'sparse_categorical_crossentropy'. Arrays are never converted or copied.");
}

}  // namespace pyn
