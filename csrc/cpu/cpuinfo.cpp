#include "cpu/cpuinfo.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace pyn {
namespace {

std::atomic<int> g_isa{static_cast<int>(Isa::kGeneric)};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    default:
      return "generic";
  }
}

Isa parse_isa(const std::string& name) {
  if (name == "generic") return Isa::kGeneric;
  if (name == "avx2") return Isa::kAvx2;
  if (name == "avx512") return Isa::kAvx512;
  throw std::invalid_argument("unknown CPU path '" + name +
                              "'; expected one of 'generic', 'avx2', 'avx512'");
}

bool cpu_supports(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports also checks that the OS saves the wide registers (XGETBV).
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kGeneric:
      return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return false;
#else
  return isa == Isa::kGeneric;
#endif
}

Isa best_isa() {
  if (cpu_supports(Isa::kAvx512)) return Isa::kAvx512;
  if (cpu_supports(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kGeneric;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kGeneric, Isa::kAvx2, Isa::kAvx512})
    if (cpu_supports(isa)) out.push_back(isa);
  return out;
}

Isa current_isa() { return static_cast<Isa>(g_isa.load(std::memory_order_acquire)); }

void set_isa(Isa isa) {
  if (!cpu_supports(isa))
    throw std::invalid_argument(std::string("CPU path '") + isa_name(isa) +
                                "' is not supported by this CPU; best available is '" +
                                isa_name(best_isa()) + "'");
  g_isa.store(static_cast<int>(isa), std::memory_order_release);
}

void init_isa_from_env() {
  const char* env = std::getenv("PYNNCORE_CPU");
  if (env == nullptr || env[0] == '\0') {
    set_isa(best_isa());
    return;
  }
  Isa isa;
  try {
    isa = parse_isa(env);
    set_isa(isa);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("PYNNCORE_CPU='") + env + "': " + e.what());
  }
}

}  // namespace pyn
