// Matrix products of a weight matrix (any computable GGUF type) with float activations.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu.h"
#include "kernels/types.h"

namespace kiln {

// out[r] = dot(row r of w, x) for r < n_rows (n_rows <= 4); rows are row_bytes apart.
// A row's result depends only on the row, x, n and the ISA: never on n_rows or on
// which rows it is grouped with, so batching and threading cannot change logits.
using DotRowsFn = void (*)(const uint8_t* w, size_t row_bytes, size_t n_rows, const float* x, size_t n,
                           float* out);

constexpr size_t kDotRowsMax = 4;

// nullptr when kiln has no kernel for that type on that ISA.
DotRowsFn dot_rows_fn(DType type, Isa isa);

struct WeightMatrix {
    const void* data;
    DType type;
    size_t n_rows;  // output features
    size_t n_cols;  // input features
};

// y[t * ldy + r] = dot(row r of w, x + t * ldx) for all rows r and tokens t < n_tokens.
// Parallel over rows with up to n_threads OpenMP threads.
void matmul(Isa isa, const WeightMatrix& w, const float* x, size_t ldx, size_t n_tokens, float* y, size_t ldy,
            int n_threads);

}  // namespace kiln
