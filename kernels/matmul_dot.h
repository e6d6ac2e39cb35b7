// The per-type, per-ISA row dot products behind dot_rows_fn (kernels/matmul.cpp).
#pragma once

#include "kernels/matmul.h"

namespace kiln {

#define KILN_DECLARE_DOT_ROWS(name) \
    void name(const uint8_t* w, size_t row_bytes, size_t n_rows, const float* x, size_t n, float* out)

KILN_DECLARE_DOT_ROWS(dot_rows_f32_scalar);
KILN_DECLARE_DOT_ROWS(dot_rows_f32_avx2);
KILN_DECLARE_DOT_ROWS(dot_rows_f32_avx512);
KILN_DECLARE_DOT_ROWS(dot_rows_f16_scalar);
KILN_DECLARE_DOT_ROWS(dot_rows_f16_avx2);
KILN_DECLARE_DOT_ROWS(dot_rows_f16_avx512);
KILN_DECLARE_DOT_ROWS(dot_rows_bf16_scalar);
KILN_DECLARE_DOT_ROWS(dot_rows_bf16_avx2);
KILN_DECLARE_DOT_ROWS(dot_rows_bf16_avx512);

#undef KILN_DECLARE_DOT_ROWS

}  // namespace kiln
