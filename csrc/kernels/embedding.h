// Embedding lookup and its gradient.
//
//   table, grad: (v, d) row-major      ids: (n,) float32 holding integers, int32 or int64
//   out, dy:     (n, d) row-major
//
//   lookup:   out[i, :]       = table[ids[i], :]
//   gradient: grad[ids[i], :] += dy[i, :]        for i = 0 .. n-1, repeated ids accumulating
//
// Every id is checked first (an integer, finite, in [0, v)); if one is not, nothing is read
// or written and the position of the first bad id is returned, so the caller can report its
// value. Both return -1 on success.
//
// Threads: the lookup splits the ids between threads. The gradient splits the d columns
// (16-float blocks): each thread owns whole columns of grad and runs over all ids, so repeated
// ids never race and the sums are added in id order, the same on any thread count.
#pragma once

#include <cstdint>

namespace pyn {

// First position in ids[0, n) that is not an integer in [0, v); -1 when all are valid.
int64_t embedding_find_bad_id(const float* ids, int64_t n, int64_t v);
int64_t embedding_find_bad_id(const int32_t* ids, int64_t n, int64_t v);
int64_t embedding_find_bad_id(const int64_t* ids, int64_t n, int64_t v);

int64_t embedding_lookup(const float* table, int64_t v, int64_t d, const float* ids, int64_t n,
                         float* out, int num_threads = 0);
int64_t embedding_lookup(const float* table, int64_t v, int64_t d, const int32_t* ids,
                         int64_t n, float* out, int num_threads = 0);
int64_t embedding_lookup(const float* table, int64_t v, int64_t d, const int64_t* ids,
                         int64_t n, float* out, int num_threads = 0);

int64_t embedding_grad(float* grad, int64_t v, int64_t d, const float* ids, int64_t n,
                       const float* dy, int num_threads = 0);
int64_t embedding_grad(float* grad, int64_t v, int64_t d, const int32_t* ids, int64_t n,
                       const float* dy, int num_threads = 0);
int64_t embedding_grad(float* grad, int64_t v, int64_t d, const int64_t* ids, int64_t n,
                       const float* dy, int num_threads = 0);

}  // namespace pyn
