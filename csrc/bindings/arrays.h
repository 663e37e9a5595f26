// Cheap checks of numpy arrays for bindings: no forcecast, no copies. A binding either gets
// a view it can hand to a kernel as (pointer, sizes, leading dimension) or reports that the
// input needs converting, which the Python layer then does once.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

namespace pyn {
namespace py = pybind11;

// numpy's NPY_FLOAT type number and array flags (stable parts of the numpy C ABI).
constexpr int kNpyFloat32 = 11;
constexpr int kNpyCContiguous = 0x0001;
constexpr int kNpyAligned = 0x0100;
constexpr int kNpyWriteable = 0x0400;

// True for an aligned, native-byte-order float32 ndarray.
inline bool is_f32_array(py::handle h) {
  if (!py::isinstance<py::array>(h)) return false;
  auto arr = py::reinterpret_borrow<py::array>(h);
  if (!(arr.flags() & kNpyAligned)) return false;
  py::dtype dt = arr.dtype();
  return dt.num() == kNpyFloat32 && dt.byteorder() != '>';
}

// A 2-D float32 array seen as a row-major matrix `storage` (rows x cols, leading dimension
// ld) that is either the array itself or, for column-major views, its transpose.
struct MatView {
  const float* data = nullptr;
  int64_t rows = 0, cols = 0;  // shape of the numpy array
  int64_t ld = 1;              // leading dimension of the row-major storage
  bool transposed = false;     // storage is the (cols x rows) transpose of the array
  int64_t extent_bytes = 0;    // bytes spanned from data
};

// Fills `v` when `h` is a float32 2-D array with one unit-stride axis and non-overlapping,
// positive strides on the other; returns false otherwise (the caller copies).
inline bool as_mat_view(py::handle h, MatView* v) {
  if (!is_f32_array(h)) return false;
  auto arr = py::reinterpret_borrow<py::array>(h);
  if (arr.ndim() != 2) return false;
  const int64_t r = arr.shape(0), c = arr.shape(1);
  v->data = static_cast<const float*>(arr.data());
  v->rows = r;
  v->cols = c;
  if (r == 0 || c == 0) {
    v->ld = c > 0 ? c : 1;
    v->transposed = false;
    v->extent_bytes = 0;
    return true;
  }
  // A dimension of length 1 may carry any stride; normalise it first.
  int64_t s0 = r == 1 ? 4 * c : arr.strides(0), s1 = c == 1 ? 4 : arr.strides(1);
  if (s1 == 4 && s0 > 0 && s0 % 4 == 0 && s0 >= 4 * c) {
    v->ld = s0 / 4;
    v->transposed = false;
    v->extent_bytes = ((r - 1) * v->ld + c) * 4;
    return true;
  }
  s0 = r == 1 ? 4 : arr.strides(0);
  s1 = c == 1 ? 4 * r : arr.strides(1);
  if (s0 == 4 && s1 > 0 && s1 % 4 == 0 && s1 >= 4 * r) {
    v->ld = s1 / 4;
    v->transposed = true;
    v->extent_bytes = ((c - 1) * v->ld + r) * 4;
    return true;
  }
  return false;
}

inline std::string shape_str(int64_t r, int64_t c) {
  return "(" + std::to_string(r) + ", " + std::to_string(c) + ")";
}

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

// Checks that `h` is a writable float32 C-contiguous array of shape (rows, cols); throws a
// TypeError/ValueError naming `what`, the expectation and what came. Never copies.
inline float* checked_output(py::handle h, const char* what, int64_t rows, int64_t cols) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(std::string(what) +
                         " must be a numpy.ndarray of dtype float32; got an object of type " +
                         std::string(py::str(py::type::handle_of(h).attr("__name__"))));
  auto arr = py::reinterpret_borrow<py::array>(h);
  py::dtype dt = arr.dtype();
  if (dt.num() != kNpyFloat32 || dt.byteorder() == '>')
    throw py::type_error(std::string(what) + " must have dtype float32; got dtype " +
                         std::string(py::str(dt)));
  if (arr.ndim() != 2 || arr.shape(0) != rows || arr.shape(1) != cols)
    throw py::value_error(std::string(what) + " must have shape " + shape_str(rows, cols) +
                          "; got shape " + shape_str(arr));
  const int flags = arr.flags();
  if (!(flags & kNpyCContiguous))
    throw py::value_error(std::string(what) +
                          " must be C-contiguous (it is written in place, never copied); got "
                          "a non-contiguous array");
  if (!(flags & kNpyAligned))
    throw py::value_error(std::string(what) +
                          " must be aligned to 4 bytes (it is written in place, never copied); "
                          "got an unaligned array");
  if (!(flags & kNpyWriteable)) throw py::value_error(std::string(what) + " is read-only");
  return static_cast<float*>(arr.mutable_data());
}

inline bool ranges_overlap(const void* p, int64_t np, const void* q, int64_t nq) {
  if (np <= 0 || nq <= 0) return false;
  auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(q);
  return a < b + static_cast<uintptr_t>(nq) && b < a + static_cast<uintptr_t>(np);
}

// Below this much work (elements touched, or flops where a binding says so) a binding keeps
// the GIL: a few microseconds at most.
constexpr double kReleaseGilElems = 16384;
// The same for work counted in flops (products, recurrences): releasing and re-taking the
// GIL costs more than a smaller product.
constexpr double kReleaseGilFlops = 1.0e5;

// Returns fn(), with the GIL released when `work` reaches `release_at`.
template <class Fn>
auto run(double work, Fn&& fn, double release_at = kReleaseGilElems) {
  if (work >= release_at) {
    py::gil_scoped_release nogil;
    return fn();
  }
  return fn();
}

inline std::string type_name(py::handle h) {
  return std::string(py::str(py::type::handle_of(h).attr("__name__")));
}

inline std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "(";
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(d[i]);
  }
  if (d.size() == 1) s += ",";
  return s + ")";
}

// A checked float32 ndarray: the array (kept alive), its data and its element count.
struct F32 {
  py::array arr;
  float* data = nullptr;
  int64_t size = 0;
};

// A float32, C-contiguous, aligned ndarray (writable when `output`), never copied; TypeError
// or ValueError naming `fn`, `what`, the expectation and what came otherwise.
inline F32 checked_f32(py::handle h, const char* fn, const char* what, bool output) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(std::string(fn) + ": " + what +
                         " must be a numpy.ndarray of dtype float32; got an object of type " +
                         type_name(h));
  F32 r;
  r.arr = py::reinterpret_borrow<py::array>(h);
  py::dtype dt = r.arr.dtype();
  if (dt.num() != kNpyFloat32 || dt.byteorder() == '>')
    throw py::type_error(std::string(fn) + ": " + what + " must have dtype float32; got dtype " +
                         std::string(py::str(dt)));
  const int flags = r.arr.flags();
  const char* role = output ? " (it is written in place, never copied)" : "";
  if (!(flags & kNpyCContiguous))
    throw py::value_error(std::string(fn) + ": " + what + " must be C-contiguous" + role +
                          "; got a non-contiguous array of shape " + shape_str(r.arr));
  if (!(flags & kNpyAligned))
    throw py::value_error(std::string(fn) + ": " + what + " must be aligned to 4 bytes" + role +
                          "; got an unaligned array");
  if (output && !(flags & kNpyWriteable))
    throw py::value_error(std::string(fn) + ": " + what + " is read-only");
  r.size = static_cast<int64_t>(r.arr.size());
  r.data = static_cast<float*>(const_cast<void*>(r.arr.data()));
  return r;
}

// Arrays of at least this many bytes are allocated on a 64-byte boundary (numpy's own
// allocations are 16 bytes past one, so every vector load from them straddles two cache lines);
// smaller ones come from numpy, which is cheaper for the tiny results of single-sample calls.
constexpr size_t kAlignedArrayBytes = 4096;

// Output buffers of the bindings (buffers.cpp). A freed buffer is kept for the next one of
// its size class instead of being handed back to the C library, which returns large blocks
// to the OS: a training step that allocates its activations and gradients anew would then
// fault in fresh pages every time (LeNet's train step at one thread: 6.2 ms before, 3.8 after).
// Up to 256 MiB are kept; release_cached_buffers() frees them and returns how many bytes.
void* buffer_alloc(size_t bytes);  // 64-byte aligned; never returns null (throws)
void buffer_free(void* data);
size_t release_cached_buffers();
size_t cached_buffer_bytes();

// A new C-contiguous float32 array of `shape`.
inline F32 new_f32(const std::vector<py::ssize_t>& shape) {
  F32 r;
  size_t n = 1;
  for (py::ssize_t d : shape) n *= static_cast<size_t>(d);
  if (n * sizeof(float) >= kAlignedArrayBytes) {
    void* p = buffer_alloc(n * sizeof(float));
    py::capsule owner(p, [](void* q) { buffer_free(q); });
    r.arr = py::array_t<float>(shape, static_cast<float*>(p), owner);
  } else {
    r.arr = py::array_t<float>(shape);
  }
  r.data = static_cast<float*>(r.arr.mutable_data());
  r.size = static_cast<int64_t>(r.arr.size());
  return r;
}

inline F32 new_like(const F32& a) {
  return new_f32(std::vector<py::ssize_t>(a.arr.shape(), a.arr.shape() + a.arr.ndim()));
}

inline bool same_shape(const py::array& a, const py::array& b) {
  if (a.ndim() != b.ndim()) return false;
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    if (a.shape(i) != b.shape(i)) return false;
  return true;
}

// ValueError unless `a` has exactly the shape `want`.
inline void check_shape(const py::array& a, const std::vector<int64_t>& want, const char* fn,
                        const char* what) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(want.size());
  for (size_t i = 0; ok && i < want.size(); ++i) ok = a.shape(i) == want[i];
  if (!ok)
    throw py::value_error(std::string(fn) + ": " + what + " must have shape " + dims_str(want) +
                          "; got shape " + shape_str(a));
}

// ValueError unless `a` has the shape of `ref` (named `ref_name`).
inline void check_same_shape(const F32& a, const F32& ref, const char* fn, const char* what,
                             const char* ref_name) {
  if (!same_shape(a.arr, ref.arr))
    throw py::value_error(std::string(fn) + ": " + what + " must have the shape of " + ref_name +
                          " " + shape_str(ref.arr) + "; got shape " + shape_str(a.arr));
}

// An output may be the very same memory as an input (in place), but must not partly overlap it.
inline void check_no_partial_overlap(const F32& out, const F32& in, const char* fn,
                                     const char* out_name, const char* in_name) {
  if (out.data == in.data && out.size == in.size) return;
  if (ranges_overlap(out.data, out.size * 4, in.data, in.size * 4))
    throw py::value_error(std::string(fn) + ": " + out_name + " overlaps " + in_name +
                          " without being the same memory; pass the same array (in place) or "
                          "a separate one");
}

// `out` checked as an output of the shape of `like` that may be `like` itself but must not
// partly overlap it; None gives a new array.
inline F32 output_like(py::handle out_h, const F32& like, const char* fn, const char* what,
                       const char* like_name) {
  if (out_h.is_none()) return new_like(like);
  F32 out = checked_f32(out_h, fn, what, true);
  check_same_shape(out, like, fn, what, like_name);
  check_no_partial_overlap(out, like, fn, what, like_name);
  return out;
}

}  // namespace pyn
