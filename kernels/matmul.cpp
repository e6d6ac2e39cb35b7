#include "kernels/matmul.h"

#include <algorithm>

#include "kernels/matmul_dot.h"

namespace kiln {

DotRowsFn dot_rows_fn(DType type, Isa isa) {
    struct Entry {
        DType type;
        DotRowsFn fn[3];  // indexed by Isa
    };
    static constexpr Entry table[] = {
        {DType::F32, {dot_rows_f32_scalar, dot_rows_f32_avx2, dot_rows_f32_avx512}},
        {DType::F16, {dot_rows_f16_scalar, dot_rows_f16_avx2, dot_rows_f16_avx512}},
        {DType::BF16, {dot_rows_bf16_scalar, dot_rows_bf16_avx2, dot_rows_bf16_avx512}},
    };
    for (const Entry& e : table)
        if (e.type == type) return e.fn[static_cast<int>(isa)];
    return nullptr;
}

void matmul(Isa isa, const WeightMatrix& w, const float* x, size_t ldx, size_t n_tokens, float* y, size_t ldy,
            int n_threads) {
    const DotRowsFn dot = dot_rows_fn(w.type, isa);
    const size_t row_bytes = kiln::row_bytes(*type_info(static_cast<uint32_t>(w.type)), w.n_cols);
    const auto* base = static_cast<const uint8_t*>(w.data);
    // A block of rows stays in cache while every token passes over it.
    constexpr size_t kBlockRows = 16;
    const size_t n_blocks = (w.n_rows + kBlockRows - 1) / kBlockRows;
    const bool big = w.n_rows * w.n_cols * n_tokens >= (size_t{1} << 15);  // else threads cost more than they save
#pragma omp parallel for num_threads(n_threads) schedule(static) if (big && n_threads > 1)
    for (size_t b = 0; b < n_blocks; ++b) {
        const size_t r_end = std::min(w.n_rows, (b + 1) * kBlockRows);
        for (size_t t = 0; t < n_tokens; ++t) {
            float out[kDotRowsMax];
            for (size_t r = b * kBlockRows; r < r_end; r += kDotRowsMax) {
                const size_t nr = std::min(kDotRowsMax, r_end - r);
                dot(base + r * row_bytes, row_bytes, nr, x + t * ldx, w.n_cols, out);
                for (size_t i = 0; i < nr; ++i) y[t * ldy + r + i] = out[i];
            }
        }
    }
}

}  // namespace kiln
