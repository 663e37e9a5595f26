// PYN_CHECK(cond, parts...): validate input and throw std::invalid_argument (ValueError in
// Python) with a message assembled from `parts`. Kernels and bindings use it for every check
// on data that comes from outside; it is never compiled out.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace pyn {
namespace detail {

template <class... Parts>
[[noreturn]] void throw_value_error(const Parts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  throw std::invalid_argument(s.str());
}

}  // namespace detail
}  // namespace pyn

#define PYN_CHECK(cond, ...)                                   \
  do {                                                         \
    if (!(cond)) ::pyn::detail::throw_value_error(__VA_ARGS__); \
  } while (0)
