// The per-type, per-ISA kernels behind matmul_kernel() (kernels/matmul.cpp).
#pragma once

#include "kernels/matmul.h"

namespace kiln {

// Float weights (kernels/matmul_float.cpp): the scalar reference and AVX2 by rows, AVX-512 by
// tiles of rows x tokens.
#define KILN_FLOAT_TILE(type)                                                 \
    void matmul_tile_##type##_scalar(KILN_MATMUL_TILE_ARGS);                  \
    void matmul_tile_##type##_avx2(KILN_MATMUL_TILE_ARGS);                    \
    void matmul_tile_##type##_avx512(KILN_MATMUL_TILE_ARGS)
KILN_FLOAT_TILE(f32);
KILN_FLOAT_TILE(f16);
KILN_FLOAT_TILE(bf16);
#undef KILN_FLOAT_TILE

// Quantized weights against quantized activations (Q8_0 or Q8_K rows).
#define KILN_QUANT_TILE(type)                                                 \
    void matmul_tile_##type##_scalar(KILN_MATMUL_TILE_ARGS);                  \
    void matmul_tile_##type##_avx2(KILN_MATMUL_TILE_ARGS);                    \
    void matmul_tile_##type##_avx512(KILN_MATMUL_TILE_ARGS)
KILN_QUANT_TILE(q8_0);
KILN_QUANT_TILE(q4_0);
KILN_QUANT_TILE(q4_1);
KILN_QUANT_TILE(q5_0);
KILN_QUANT_TILE(q5_1);
KILN_QUANT_TILE(iq4_nl);
KILN_QUANT_TILE(iq4_xs);
KILN_QUANT_TILE(q2_k);
KILN_QUANT_TILE(q3_k);
KILN_QUANT_TILE(q4_k);
KILN_QUANT_TILE(q5_k);
KILN_QUANT_TILE(q6_k);
KILN_QUANT_TILE(iq2_xxs);
KILN_QUANT_TILE(iq2_xs);
KILN_QUANT_TILE(iq2_s);
KILN_QUANT_TILE(iq3_xxs);
KILN_QUANT_TILE(iq3_s);
KILN_QUANT_TILE(iq1_s);
KILN_QUANT_TILE(iq1_m);
#undef KILN_QUANT_TILE

// Strips of 16 rows on AMX (kernels/matmul_amx.cpp, kernels/repack.h).
void matmul_tile_q8_0_strips_amx(KILN_MATMUL_TILE_ARGS);
void matmul_tile_q4_0_strips_amx(KILN_MATMUL_TILE_ARGS);
// Q4_K, Q5_K and Q6_K strips: VNNI, and AMX for 4 or more tokens (kernels/matmul_k_strips.cpp).
void matmul_tile_q4_k_strips_amx(KILN_MATMUL_TILE_ARGS);
void matmul_tile_q5_k_strips_amx(KILN_MATMUL_TILE_ARGS);
void matmul_tile_q6_k_strips_amx(KILN_MATMUL_TILE_ARGS);

}  // namespace kiln
