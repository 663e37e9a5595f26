// Fused optimizer updates (rules in optim.h): checks the hyper-parameters, computes the
// step-dependent factors once in double, then runs the current instruction set's loop
// (kernels/simd/optim_impl.h) over [0, n), split into one contiguous block per thread:
//
//   [0 ............ n)      thread t gets [lo_t, hi_t), boundaries on 16-element (64-byte)
//   | t0 | t1 | ... |       multiples, so no two threads write the same cache line of an
//                           aligned array
#include "kernels/optim.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"
#include "cpu/cpuinfo.h"
#include "kernels/simd/optim_impl.h"

namespace pyn {
namespace {

constexpr int64_t kAlign = 16;

const OptimKernels& current_kernels() {
  switch (current_isa()) {
    case Isa::kAvx512:
      return optim_kernels_avx512();
    case Isa::kAvx2:
      return optim_kernels_avx2();
    default:
      return optim_kernels_generic();
  }
}

int update_threads(int64_t n, int num_threads) {
  const int max_threads = num_threads > 0 ? num_threads : get_num_threads();
  return threads_for(static_cast<double>(n), kOptimParallelElements / 2, max_threads);
}

// Runs fn(args, lo, hi) over [0, n) on the threads the size warrants.
template <class Args>
void run_update(void (*fn)(const Args&, int64_t, int64_t), const Args& args, int64_t n,
                int num_threads) {
  if (n <= 0) return;
  const int nt = update_threads(n, num_threads);
  if (nt <= 1) return fn(args, 0, n);
  parallel(nt, [&](int tid, int nth) {
    int64_t lo, hi;
    split_range(n, kAlign, nth, tid, &lo, &hi);
    if (lo < hi) fn(args, lo, hi);
  });
}

void check_finite(const char* fn, const char* what, double x) {
  PYN_CHECK(std::isfinite(x), fn, ": ", what, " must be a finite number; got ", x);
}

void check_unit(const char* fn, const char* what, double x) {
  PYN_CHECK(x >= 0.0 && x <= 1.0, fn, ": ", what, " must be in [0, 1]; got ", x);
}

void check_step(const char* fn, int64_t step) {
  PYN_CHECK(step >= 1, fn, ": step must be >= 1 (the 1-based number of this update); got ",
            step);
}

// Checks the shared hyper-parameters and the arrays; returns the gradient transform.
GradParams common_setup(const char* fn, int64_t n, const float* p, const float* g,
                        const OptimCommon& hp) {
  PYN_CHECK(n >= 0, fn, ": expected a number of elements >= 0; got ", n);
  PYN_CHECK(n == 0 || (p != nullptr && g != nullptr), fn, ": params and grads must not be null");
  check_finite(fn, "learning_rate", hp.lr);
  check_finite(fn, "weight_decay", hp.weight_decay);
  check_finite(fn, "grad_scale", hp.grad_scale);
  PYN_CHECK(!std::isnan(hp.clip_value), fn, ": clip_value must not be NaN");
  const float inf = std::numeric_limits<float>::infinity();
  GradParams gp;
  gp.scale = static_cast<float>(hp.grad_scale);
  const bool clip = hp.clip_value > 0.0 && hp.clip_value < static_cast<double>(inf);
  gp.hi = clip ? static_cast<float>(hp.clip_value) : inf;
  gp.lo = -gp.hi;
  gp.decay = static_cast<float>(1.0 - hp.lr * hp.weight_decay);
  return gp;
}

void check_slot(const char* fn, int64_t n, const float* slot, const char* what) {
  PYN_CHECK(n == 0 || slot != nullptr, fn, ": ", what, " must not be null");
}

// The loop arguments of one update with the shared part filled in: params, grads and the
// gradient transform (common_setup's checks done).
template <class Args>
Args start_args(const char* fn, int64_t n, float* p, const float* g, const OptimCommon& hp) {
  Args a{};
  a.gp = common_setup(fn, n, p, g, hp);
  a.p = p;
  a.g = g;
  return a;
}

// The hyper-parameters Adam, Adamax and Nadam share.
void check_adam_family(const char* fn, double beta_1, double beta_2, double epsilon,
                       int64_t step) {
  check_unit(fn, "beta_1", beta_1);
  check_unit(fn, "beta_2", beta_2);
  check_finite(fn, "epsilon", epsilon);
  check_step(fn, step);
}

}  // namespace

void sgd_update(int64_t n, float* p, const float* g, float* momentum_buf, const SgdParams& hp,
                int num_threads) {
  const char* fn = "sgd_update";
  auto a = start_args<SgdArgs>(fn, n, p, g, hp);
  check_unit(fn, "momentum", hp.momentum);
  PYN_CHECK(hp.momentum == 0.0 || n == 0 || momentum_buf != nullptr, fn,
            ": momentum=", hp.momentum, " needs a momentum buffer; got none");
  a.m = momentum_buf;
  a.lr = static_cast<float>(hp.lr);
  a.momentum = static_cast<float>(hp.momentum);
  a.nesterov = hp.nesterov;
  run_update(current_kernels().sgd, a, n, num_threads);
}

void rmsprop_update(int64_t n, float* p, const float* g, float* velocity, float* momentum_buf,
                    float* average_grad, const RmspropParams& hp, int num_threads) {
  const char* fn = "rmsprop_update";
  auto a = start_args<RmspropArgs>(fn, n, p, g, hp);
  check_slot(fn, n, velocity, "velocity");
  check_unit(fn, "rho", hp.rho);
  check_finite(fn, "momentum", hp.momentum);
  PYN_CHECK(hp.momentum >= 0.0, fn, ": momentum must be >= 0; got ", hp.momentum);
  check_finite(fn, "epsilon", hp.epsilon);
  PYN_CHECK(hp.momentum == 0.0 || n == 0 || momentum_buf != nullptr, fn,
            ": momentum=", hp.momentum, " needs a momentum buffer; got none");
  a.v = velocity;
  a.mom = momentum_buf;
  a.avg = average_grad;
  a.lr = static_cast<float>(hp.lr);
  a.rho = static_cast<float>(hp.rho);
  a.one_minus_rho = static_cast<float>(1.0 - hp.rho);
  a.momentum = static_cast<float>(hp.momentum);
  a.eps = static_cast<float>(hp.epsilon);
  run_update(current_kernels().rmsprop, a, n, num_threads);
}

void adagrad_update(int64_t n, float* p, const float* g, float* accumulator,
                    const AdagradParams& hp, int num_threads) {
  const char* fn = "adagrad_update";
  auto a = start_args<AdagradArgs>(fn, n, p, g, hp);
  check_slot(fn, n, accumulator, "accumulator");
  check_finite(fn, "epsilon", hp.epsilon);
  a.acc = accumulator;
  a.lr = static_cast<float>(hp.lr);
  a.eps = static_cast<float>(hp.epsilon);
  run_update(current_kernels().adagrad, a, n, num_threads);
}

void adadelta_update(int64_t n, float* p, const float* g, float* accum_grad, float* accum_var,
                     const AdadeltaParams& hp, int num_threads) {
  const char* fn = "adadelta_update";
  auto a = start_args<AdadeltaArgs>(fn, n, p, g, hp);
  check_slot(fn, n, accum_grad, "accum_grad");
  check_slot(fn, n, accum_var, "accum_var");
  check_unit(fn, "rho", hp.rho);
  check_finite(fn, "epsilon", hp.epsilon);
  a.acc_grad = accum_grad;
  a.acc_var = accum_var;
  a.lr = static_cast<float>(hp.lr);
  a.rho = static_cast<float>(hp.rho);
  a.one_minus_rho = static_cast<float>(1.0 - hp.rho);
  a.eps = static_cast<float>(hp.epsilon);
  run_update(current_kernels().adadelta, a, n, num_threads);
}

void adam_update(int64_t n, float* p, const float* g, float* m, float* v, float* vhat,
                 const AdamParams& hp, int num_threads) {
  const char* fn = "adam_update";
  auto a = start_args<AdamArgs>(fn, n, p, g, hp);
  check_slot(fn, n, m, "m");
  check_slot(fn, n, v, "v");
  check_adam_family(fn, hp.beta_1, hp.beta_2, hp.epsilon, hp.step);
  const double t = static_cast<double>(hp.step);
  const double bc1 = 1.0 - std::pow(hp.beta_1, t), bc2 = 1.0 - std::pow(hp.beta_2, t);
  a.m = m;
  a.v = v;
  a.vhat = vhat;
  a.alpha = static_cast<float>(hp.lr * std::sqrt(bc2) / bc1);
  a.one_minus_b1 = static_cast<float>(1.0 - hp.beta_1);
  a.one_minus_b2 = static_cast<float>(1.0 - hp.beta_2);
  a.eps = static_cast<float>(hp.epsilon);
  run_update(current_kernels().adam, a, n, num_threads);
}

void adamax_update(int64_t n, float* p, const float* g, float* m, float* u,
                   const AdamaxParams& hp, int num_threads) {
  const char* fn = "adamax_update";
  auto a = start_args<AdamaxArgs>(fn, n, p, g, hp);
  check_slot(fn, n, m, "m");
  check_slot(fn, n, u, "u");
  check_adam_family(fn, hp.beta_1, hp.beta_2, hp.epsilon, hp.step);
  a.m = m;
  a.u = u;
  a.lr_corrected =
      static_cast<float>(hp.lr / (1.0 - std::pow(hp.beta_1, static_cast<double>(hp.step))));
  a.one_minus_b1 = static_cast<float>(1.0 - hp.beta_1);
  a.b2 = static_cast<float>(hp.beta_2);
  a.eps = static_cast<float>(hp.epsilon);
  run_update(current_kernels().adamax, a, n, num_threads);
}

double nadam_momentum_cache(double beta_1, int64_t t) {
  return beta_1 * (1.0 - 0.5 * std::pow(0.96, static_cast<double>(t)));
}

double nadam_update(int64_t n, float* p, const float* g, float* m, float* v,
                    const NadamParams& hp, int num_threads) {
  const char* fn = "nadam_update";
  auto a = start_args<NadamArgs>(fn, n, p, g, hp);
  check_slot(fn, n, m, "m");
  check_slot(fn, n, v, "v");
  check_finite(fn, "u_product", hp.u_product);
  check_adam_family(fn, hp.beta_1, hp.beta_2, hp.epsilon, hp.step);
  const double u_t = nadam_momentum_cache(hp.beta_1, hp.step);
  const double u_next = nadam_momentum_cache(hp.beta_1, hp.step + 1);
  const double prod_t = hp.u_product * u_t, prod_next = prod_t * u_next;
  a.m = m;
  a.v = v;
  a.lr = static_cast<float>(hp.lr);
  a.one_minus_b1 = static_cast<float>(1.0 - hp.beta_1);
  a.one_minus_b2 = static_cast<float>(1.0 - hp.beta_2);
  a.eps = static_cast<float>(hp.epsilon);
  a.coef_m = static_cast<float>(u_next / (1.0 - prod_next));
  a.coef_g = static_cast<float>((1.0 - u_t) / (1.0 - prod_t));
  a.inv_bc2 =
      static_cast<float>(1.0 / (1.0 - std::pow(hp.beta_2, static_cast<double>(hp.step))));
  run_update(current_kernels().nadam, a, n, num_threads);
  return prod_t;
}

namespace {

// Deterministic mode: sums of squares are taken over fixed blocks of kFixedBlock elements
// (counted from the start of each range), whichever thread computes a block, and the block
// sums are added in block order; the result is the same for every thread count.
constexpr int64_t kFixedBlock = 16384;  // a multiple of kAlign

// One block: segment `seg`, elements [lo, hi).
struct SumBlock {
  int64_t seg, lo, hi;
};

// Appends the fixed blocks of segment `seg` = [lo, hi).
void add_blocks(std::vector<SumBlock>* blocks, int64_t seg, int64_t lo, int64_t hi) {
  for (; lo < hi; lo += kFixedBlock) blocks->push_back({seg, lo, std::min(lo + kFixedBlock, hi)});
}

// Runs fn(block index) for every block, the blocks split evenly across nt threads.
template <class Fn>
void for_blocks(const std::vector<SumBlock>& blocks, int nt, Fn&& fn) {
  const int64_t nb = static_cast<int64_t>(blocks.size());
  if (nt <= 1 || nb <= 1) {
    for (int64_t b = 0; b < nb; ++b) fn(b);
    return;
  }
  parallel(nt, [&](int tid, int nth) {
    int64_t b0, b1;
    split_range(nb, 1, nth, tid, &b0, &b1);
    for (int64_t b = b0; b < b1; ++b) fn(b);
  });
}

void fixed_block_sums(const float* x, int64_t num_segments, const int64_t* offsets, double* out,
                      int num_threads) {
  const auto sum_sq = current_kernels().sum_sq;
  std::vector<SumBlock> blocks;
  for (int64_t s = 0; s < num_segments; ++s) add_blocks(&blocks, s, offsets[s], offsets[s + 1]);
  std::vector<double> part(blocks.size(), 0.0);
  const int nt = update_threads(offsets[num_segments] - offsets[0], num_threads);
  for_blocks(blocks, nt, [&](int64_t b) {
    const SumBlock& k = blocks[static_cast<size_t>(b)];
    part[static_cast<size_t>(b)] = sum_sq(x, k.lo, k.hi);
  });
  for (int64_t s = 0; s < num_segments; ++s) out[s] = 0.0;
  for (size_t b = 0; b < blocks.size(); ++b) out[blocks[b].seg] += part[b];
}

}  // namespace

double sum_of_squares(int64_t n, const float* x, int num_threads) {
  PYN_CHECK(n >= 0, "sum_of_squares: expected a number of elements >= 0; got ", n);
  if (n == 0) return 0.0;
  PYN_CHECK(x != nullptr, "sum_of_squares: x must not be null");
  const auto sum_sq = current_kernels().sum_sq;
  if (deterministic()) {
    const int64_t offsets[2] = {0, n};
    double out = 0.0;
    fixed_block_sums(x, 1, offsets, &out, num_threads);
    return out;
  }
  const int nt = update_threads(n, num_threads);
  if (nt <= 1) return sum_sq(x, 0, n);
  double partial[64] = {};
  const int nt_used = nt < 64 ? nt : 64;
  parallel(nt_used, [&](int tid, int nth) {
    int64_t lo, hi;
    split_range(n, kAlign, nth, tid, &lo, &hi);
    partial[tid] = sum_sq(x, lo, hi);
  });
  double s = 0.0;
  for (int t = 0; t < nt_used; ++t) s += partial[t];  // fixed order: same result every call
  return s;
}

void segment_sum_of_squares(int64_t n, const float* x, int64_t num_segments,
                            const int64_t* offsets, double* out, int num_threads) {
  const char* fn = "segment_sum_of_squares";
  PYN_CHECK(n >= 0, fn, ": expected a number of elements >= 0; got ", n);
  PYN_CHECK(num_segments >= 0, fn, ": expected a number of segments >= 0; got ", num_segments);
  if (num_segments == 0) return;
  PYN_CHECK(offsets != nullptr && out != nullptr, fn, ": offsets and out must not be null");
  for (int64_t s = 0; s <= num_segments; ++s) {
    PYN_CHECK(offsets[s] >= 0 && offsets[s] <= n, fn, ": offsets[", s, "]=", offsets[s],
              " is outside [0, ", n, "]");
    PYN_CHECK(s == 0 || offsets[s] >= offsets[s - 1], fn, ": offsets must be non-decreasing;",
              " got offsets[", s - 1, "]=", offsets[s - 1], " > offsets[", s, "]=", offsets[s]);
  }
  PYN_CHECK(offsets[num_segments] == offsets[0] || x != nullptr, fn, ": x must not be null");
  if (deterministic()) return fixed_block_sums(x, num_segments, offsets, out, num_threads);
  const auto sum_sq = current_kernels().sum_sq;
  const int64_t first = offsets[0], total = offsets[num_segments] - first;
  const int nt = update_threads(total, num_threads);
  if (nt <= 1) {
    for (int64_t s = 0; s < num_segments; ++s) out[s] = sum_sq(x, offsets[s], offsets[s + 1]);
    return;
  }
  // Each thread takes an equal share of the elements and sums the pieces of the segments it
  // overlaps into its own row of `partial`; rows are then added in thread order.
  std::vector<double> partial(static_cast<size_t>(nt * num_segments), 0.0);
  parallel(nt, [&](int tid, int nth) {
    int64_t lo, hi;
    split_range(total, kAlign, nth, tid, &lo, &hi);
    lo += first;
    hi += first;
    double* row = partial.data() + static_cast<int64_t>(tid) * num_segments;
    for (int64_t s = 0; s < num_segments; ++s) {
      const int64_t a = offsets[s] > lo ? offsets[s] : lo;
      const int64_t b = offsets[s + 1] < hi ? offsets[s + 1] : hi;
      if (a < b) row[s] = sum_sq(x, a, b);
    }
  });
  for (int64_t s = 0; s < num_segments; ++s) {
    double v = 0.0;
    for (int t = 0; t < nt; ++t) v += partial[static_cast<size_t>(t * num_segments + s)];
    out[s] = v;
  }
}

void lion_update(int64_t n, float* p, const float* g, float* m, const LionParams& hp,
                 int num_threads) {
  const char* fn = "lion_update";
  auto a = start_args<LionArgs>(fn, n, p, g, hp);
  check_slot(fn, n, m, "m");
  check_unit(fn, "beta_1", hp.beta_1);
  check_unit(fn, "beta_2", hp.beta_2);
  a.m = m;
  a.lr = static_cast<float>(hp.lr);
  a.b1 = static_cast<float>(hp.beta_1);
  a.one_minus_b1 = static_cast<float>(1.0 - hp.beta_1);
  a.b2 = static_cast<float>(hp.beta_2);
  a.one_minus_b2 = static_cast<float>(1.0 - hp.beta_2);
  run_update(current_kernels().lion, a, n, num_threads);
}

void lamb_update(int64_t n, float* p, const float* g, float* m, float* v, int64_t num_segments,
                 const int64_t* offsets, const int64_t* sizes, const LambParams& hp,
                 double* trust_ratio, int num_threads) {
  const char* fn = "lamb_update";
  auto a = start_args<LambArgs>(fn, n, p, g, hp);
  check_slot(fn, n, m, "m");
  check_slot(fn, n, v, "v");
  check_adam_family(fn, hp.beta_1, hp.beta_2, hp.epsilon, hp.step);
  PYN_CHECK(hp.beta_1 < 1.0, fn, ": beta_1 must be in [0, 1); got ", hp.beta_1);
  PYN_CHECK(hp.beta_2 < 1.0, fn, ": beta_2 must be in [0, 1); got ", hp.beta_2);
  PYN_CHECK(num_segments >= 0, fn, ": expected a number of segments >= 0; got ", num_segments);
  if (num_segments == 0) return;
  PYN_CHECK(offsets != nullptr && sizes != nullptr, fn, ": offsets and sizes must not be null");
  for (int64_t s = 0; s < num_segments; ++s) {
    PYN_CHECK(sizes[s] >= 0, fn, ": sizes[", s, "] must be >= 0; got ", sizes[s]);
    PYN_CHECK(offsets[s] >= 0 && offsets[s] <= n - sizes[s], fn, ": segment ", s, " [",
              offsets[s], ", ", offsets[s] + sizes[s], ") is outside [0, ", n, ")");
    PYN_CHECK(s == 0 || offsets[s] >= offsets[s - 1] + sizes[s - 1], fn,
              ": segments must be in increasing order and must not overlap; segment ", s - 1,
              " ends at ", offsets[s - 1] + sizes[s - 1], ", segment ", s, " starts at ",
              offsets[s]);
  }
  const double t = static_cast<double>(hp.step);
  a.m = m;
  a.v = v;
  a.one_minus_b1 = static_cast<float>(1.0 - hp.beta_1);
  a.one_minus_b2 = static_cast<float>(1.0 - hp.beta_2);
  a.inv_bc1 = static_cast<float>(1.0 / (1.0 - std::pow(hp.beta_1, t)));
  a.inv_bc2 = static_cast<float>(1.0 / (1.0 - std::pow(hp.beta_2, t)));
  a.eps = static_cast<float>(hp.epsilon);

  std::vector<SumBlock> blocks;
  int64_t total = 0;
  for (int64_t s = 0; s < num_segments; ++s) {
    add_blocks(&blocks, s, offsets[s], offsets[s] + sizes[s]);
    total += sizes[s];
  }
  const OptimKernels& k = current_kernels();
  const int nt = update_threads(total, num_threads);

  // Pass 1: moments, and per block the sums of (p * decay)^2 and u^2.
  std::vector<double> part(2 * blocks.size(), 0.0);
  for_blocks(blocks, nt, [&](int64_t b) {
    const SumBlock& blk = blocks[static_cast<size_t>(b)];
    k.lamb_moments(a, blk.lo, blk.hi, part.data() + 2 * b);
  });
  std::vector<double> sums(static_cast<size_t>(2 * num_segments), 0.0);
  for (size_t b = 0; b < blocks.size(); ++b) {  // block order: independent of the threads
    sums[static_cast<size_t>(2 * blocks[b].seg)] += part[2 * b];
    sums[static_cast<size_t>(2 * blocks[b].seg + 1)] += part[2 * b + 1];
  }
  std::vector<float> steps(static_cast<size_t>(num_segments));
  for (int64_t s = 0; s < num_segments; ++s) {
    const double w = std::sqrt(sums[static_cast<size_t>(2 * s)]);
    const double u = std::sqrt(sums[static_cast<size_t>(2 * s + 1)]);
    const double r = (w > 0.0 && u > 0.0) ? w / u : 1.0;  // NaN norms give 1, as in Keras
    if (trust_ratio != nullptr) trust_ratio[s] = r;
    steps[static_cast<size_t>(s)] = static_cast<float>(hp.lr * r);
  }

  // Pass 2: p = p * decay - lr r u.
  for_blocks(blocks, nt, [&](int64_t b) {
    const SumBlock& blk = blocks[static_cast<size_t>(b)];
    k.lamb_apply(a, blk.lo, blk.hi, steps[static_cast<size_t>(blk.seg)]);
  });
}

void ftrl_update(int64_t n, float* p, const float* g, float* accumulator, float* linear,
                 const FtrlParams& hp, int num_threads) {
  const char* fn = "ftrl_update";
  auto a = start_args<FtrlArgs>(fn, n, p, g, hp);
  check_slot(fn, n, accumulator, "accumulator");
  check_slot(fn, n, linear, "linear");
  PYN_CHECK(hp.lr > 0.0, fn, ": learning_rate must be > 0; got ", hp.lr);
  check_finite(fn, "learning_rate_power", hp.learning_rate_power);
  PYN_CHECK(hp.learning_rate_power <= 0.0, fn, ": learning_rate_power must be <= 0; got ",
            hp.learning_rate_power);
  const double strengths[3] = {hp.l1, hp.l2, hp.l2_shrinkage};
  const char* names[3] = {"l1_regularization_strength", "l2_regularization_strength",
                          "l2_shrinkage_regularization_strength"};
  for (int i = 0; i < 3; ++i) {
    check_finite(fn, names[i], strengths[i]);
    PYN_CHECK(strengths[i] >= 0.0, fn, ": ", names[i], " must be >= 0; got ", strengths[i]);
  }
  check_finite(fn, "beta", hp.beta);
  a.acc = accumulator;
  a.lin = linear;
  a.k = static_cast<float>(-hp.learning_rate_power);
  a.sqrt_power = hp.learning_rate_power == -0.5;
  a.inv_lr = static_cast<float>(1.0 / hp.lr);
  a.two_l2 = static_cast<float>(2.0 * (hp.l2 + hp.beta / (2.0 * hp.lr)));
  a.l1 = static_cast<float>(hp.l1);
  a.two_shrinkage = static_cast<float>(2.0 * hp.l2_shrinkage);
  run_update(current_kernels().ftrl, a, n, num_threads);
}

const char* optim_kernel_name() { return current_kernels().name; }

}  // namespace pyn
