// CPU feature detection and the instruction-set path kernels run on.
//
// Every SIMD kernel is compiled once per path (generic x86-64, AVX2+FMA, AVX-512) in its own
// translation unit. At import the best path this CPU supports is chosen, unless the
// environment variable PYNNCORE_CPU=generic|avx2|avx512 forces one.
#pragma once

#include <string>
#include <vector>

namespace pyn {

enum class Isa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

const char* isa_name(Isa isa);
// Parses "generic" / "avx2" / "avx512"; throws std::invalid_argument on anything else.
Isa parse_isa(const std::string& name);
bool cpu_supports(Isa isa);
Isa best_isa();
std::vector<Isa> supported_isas();

// The path kernels use now. set_isa throws std::invalid_argument if the CPU lacks it.
Isa current_isa();
void set_isa(Isa isa);
// Reads PYNNCORE_CPU and selects the path (best_isa() when unset); throws with a message
// naming the variable when the value is unknown or unsupported here.
void init_isa_from_env();

}  // namespace pyn
