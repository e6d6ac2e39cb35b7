// The per-type, per-ISA kernels behind matmul_kernel() (kernels/matmul.cpp).
#pragma once

#include "kernels/matmul.h"

namespace kiln {

// Float weights: out[r] = dot(row r, x) for up to four rows at once.
#define KILN_DOT_ROWS(name) \
    void name(const uint8_t* w, size_t row_bytes, size_t n_rows, const float* x, size_t n, float* out)
KILN_DOT_ROWS(dot_rows_f32_scalar);
KILN_DOT_ROWS(dot_rows_f32_avx2);
KILN_DOT_ROWS(dot_rows_f16_scalar);
KILN_DOT_ROWS(dot_rows_f16_avx2);
KILN_DOT_ROWS(dot_rows_bf16_scalar);
KILN_DOT_ROWS(dot_rows_bf16_avx2);
#undef KILN_DOT_ROWS

// Float weights on AVX-512: tiles of rows x tokens.
void matmul_tile_f32_avx512(KILN_MATMUL_TILE_ARGS);
void matmul_tile_f16_avx512(KILN_MATMUL_TILE_ARGS);
void matmul_tile_bf16_avx512(KILN_MATMUL_TILE_ARGS);

// Quantized weights against quantized activations (Q8_0 or Q8_K rows).
#define KILN_QUANT_TILE(type)                                                 \
    void matmul_tile_##type##_scalar(KILN_MATMUL_TILE_ARGS);                  \
    void matmul_tile_##type##_avx2(KILN_MATMUL_TILE_ARGS);                    \
    void matmul_tile_##type##_avx512(KILN_MATMUL_TILE_ARGS)
KILN_QUANT_TILE(q8_0);
KILN_QUANT_TILE(q4_0);
KILN_QUANT_TILE(q4_k);
KILN_QUANT_TILE(q5_k);
KILN_QUANT_TILE(q6_k);
#undef KILN_QUANT_TILE

// Strips of 16 rows on AMX (kernels/matmul_amx.cpp, kernels/repack.h).
void matmul_tile_q8_0_strips_amx(KILN_MATMUL_TILE_ARGS);
void matmul_tile_q4_0_strips_amx(KILN_MATMUL_TILE_ARGS);
// Q4_K, Q5_K and Q6_K strips: VNNI, and AMX for 4 or more tokens (kernels/matmul_k_strips.cpp).
void matmul_tile_q4_k_strips_amx(KILN_MATMUL_TILE_ARGS);
void matmul_tile_q5_k_strips_amx(KILN_MATMUL_TILE_ARGS);
void matmul_tile_q6_k_strips_amx(KILN_MATMUL_TILE_ARGS);

}  // namespace kiln
