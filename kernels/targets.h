// The instruction sets of each kernel level in one place: the target strings kernel files
// compile their vector regions with, beside the CPU features isa_supported() (kernels/cpu.cpp)
// checks for the same level. A region of one level uses only that level's string.
#pragma once

// avx2: AVX2, FMA, F16C.
#define KILN_TARGET_AVX2 "avx2,fma,f16c"
// avx512: the above and AVX512 F, BW, VL, DQ, VNNI.
#define KILN_TARGET_AVX512 "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
// amx: the above and AVX512-VBMI, GFNI, AMX-TILE, AMX-INT8.
#define KILN_TARGET_AMX "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,gfni,amx-tile,amx-int8"

// KILN_BEGIN_TARGET(KILN_TARGET_AVX512) ... KILN_END_TARGET: a region compiled for that level.
// (clang ignores these; the fuzz build enables every level on its command line instead.)
#define KILN_PRAGMA(x) _Pragma(#x)
#define KILN_BEGIN_TARGET(t) _Pragma("GCC push_options") KILN_PRAGMA(GCC target(t))
#define KILN_END_TARGET _Pragma("GCC pop_options")
