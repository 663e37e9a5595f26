// Counting NaN and infinite values in float arrays: the input check `fit` runs over whole
// datasets before training, so it reads the data once, without temporaries, on every thread.
#pragma once

#include <cstdint>

namespace pyn {

int64_t count_nonfinite(const float* x, int64_t n, int num_threads = 0);
int64_t count_nonfinite(const double* x, int64_t n, int num_threads = 0);

}  // namespace pyn
