// What the processor can do: instruction-set level for kernel dispatch, and core count.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kiln {

enum class Isa { scalar, avx2, avx512, amx };

// Best level this CPU (and OS) supports. avx2 means AVX2+FMA+F16C; avx512 adds F+BW+VL+DQ+VNNI;
// amx adds VBMI, GFNI, AMX-TILE and AMX-INT8, which the kernel must allow this process (asked for
// here). kernels/targets.h has the same lists for the compiler.
Isa detect_isa();
bool isa_supported(Isa isa);
// Whether the level includes AVX-512 (avx512 and amx).
inline bool has_avx512(Isa isa) { return isa == Isa::avx512 || isa == Isa::amx; }
std::optional<Isa> parse_isa(std::string_view name);
const char* isa_name(Isa isa);

// Physical cores (not hyper-threads) this process may run on; at least 1.
int physical_cores();

// The processor's brand string ("AMD EPYC 9B14", as cpuid gives it), or "" when it has none.
std::string cpu_brand();

}  // namespace kiln
