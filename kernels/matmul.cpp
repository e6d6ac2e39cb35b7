#include "kernels/matmul.h"

#include <algorithm>

#include "kernels/matmul_kernels.h"
#include "kernels/quants.h"

namespace kiln {

namespace {

using DotRowsFn = void (*)(const uint8_t*, size_t, size_t, const float*, size_t, float*);

// Float weights: the rows of the tile in groups of four, each group against every token.
template <DotRowsFn dot>
void float_tile(KILN_MATMUL_TILE_ARGS) {
    for (size_t t = 0; t < n_tokens; ++t) {
        const auto* xt = reinterpret_cast<const float*>(x + t * x_stride);
        for (size_t r = 0; r < n_rows; r += 4) {
            float out[4];
            const size_t nr = std::min<size_t>(4, n_rows - r);
            dot(w + r * row_bytes, row_bytes, nr, xt, n, out);
            std::copy_n(out, nr, y + t * ldy + r);
        }
    }
}

}  // namespace

MatmulKernel matmul_kernel(DType type, Isa isa) {
    struct Entry {
        DType type;
        DType act;
        MatmulTileFn fn[3];  // indexed by Isa
    };
    static constexpr Entry table[] = {
        {DType::F32, DType::F32, {float_tile<dot_rows_f32_scalar>, float_tile<dot_rows_f32_avx2>, float_tile<dot_rows_f32_avx512>}},
        {DType::F16, DType::F32, {float_tile<dot_rows_f16_scalar>, float_tile<dot_rows_f16_avx2>, float_tile<dot_rows_f16_avx512>}},
        {DType::BF16, DType::F32, {float_tile<dot_rows_bf16_scalar>, float_tile<dot_rows_bf16_avx2>, float_tile<dot_rows_bf16_avx512>}},
        {DType::Q8_0, DType::Q8_0, {matmul_tile_q8_0_scalar, matmul_tile_q8_0_avx2, matmul_tile_q8_0_avx512}},
        {DType::Q4_0, DType::Q8_0, {matmul_tile_q4_0_scalar, matmul_tile_q4_0_avx2, matmul_tile_q4_0_avx512}},
        {DType::Q4_K, DType::Q8_K, {matmul_tile_q4_k_scalar, matmul_tile_q4_k_avx2, matmul_tile_q4_k_avx512}},
        {DType::Q5_K, DType::Q8_K, {matmul_tile_q5_k_scalar, matmul_tile_q5_k_avx2, matmul_tile_q5_k_avx512}},
        {DType::Q6_K, DType::Q8_K, {matmul_tile_q6_k_scalar, matmul_tile_q6_k_avx2, matmul_tile_q6_k_avx512}},
    };
    for (const Entry& e : table)
        if (e.type == type) return {e.act, e.fn[static_cast<int>(isa)]};
    return {DType::F32, nullptr};
}

void MatmulInput::set(const float* x, size_t ldx, size_t n_tokens, size_t n_cols) {
    x_ = x, ldx_ = ldx, n_tokens_ = n_tokens, n_cols_ = n_cols;
    have_q8_0_ = have_q8_k_ = false;
}

const uint8_t* MatmulInput::rows(DType act_type, size_t& stride) {
    if (act_type == DType::Q8_0) {
        stride = n_cols_ / QK8_0 * sizeof(BlockQ8_0);
        if (!have_q8_0_) {
            if (q8_0_.size() < stride * n_tokens_) q8_0_.resize(stride * n_tokens_);
            for (size_t t = 0; t < n_tokens_; ++t)
                quantize_row_q8_0(x_ + t * ldx_, reinterpret_cast<BlockQ8_0*>(q8_0_.data() + t * stride), n_cols_);
            have_q8_0_ = true;
        }
        return q8_0_.data();
    }
    if (act_type == DType::Q8_K) {
        stride = n_cols_ / QK_K * sizeof(BlockQ8_K);
        if (!have_q8_k_) {
            if (q8_k_.size() < stride * n_tokens_) q8_k_.resize(stride * n_tokens_);
            for (size_t t = 0; t < n_tokens_; ++t)
                quantize_row_q8_K(x_ + t * ldx_, reinterpret_cast<BlockQ8_K*>(q8_k_.data() + t * stride), n_cols_);
            have_q8_k_ = true;
        }
        return q8_k_.data();
    }
    stride = ldx_ * sizeof(float);
    return reinterpret_cast<const uint8_t*>(x_);
}

void matmul(Isa isa, const WeightMatrix& w, MatmulInput& in, float* y, size_t ldy, int n_threads) {
    const MatmulKernel k = matmul_kernel(w.type, isa);
    size_t x_stride = 0;
    const uint8_t* x = in.rows(k.act_type, x_stride);
    const size_t row_bytes = kiln::row_bytes(*type_info(static_cast<uint32_t>(w.type)), w.n_cols);
    const auto* base = static_cast<const uint8_t*>(w.data);
    const size_t n_tokens = in.n_tokens();
    // A block of rows stays in cache while every token passes over it.
    constexpr size_t kBlockRows = 16;
    const size_t n_blocks = (w.n_rows + kBlockRows - 1) / kBlockRows;
    const bool big = w.n_rows * w.n_cols * n_tokens >= (size_t{1} << 15);  // else threads cost more than they save
#pragma omp parallel for num_threads(n_threads) schedule(static) if (big && n_threads > 1)
    for (size_t b = 0; b < n_blocks; ++b) {
        const size_t r0 = b * kBlockRows, nr = std::min(kBlockRows, w.n_rows - r0);
        k.tile(base + r0 * row_bytes, row_bytes, nr, x, x_stride, n_tokens, w.n_cols, y + r0, ldy);
    }
}

}  // namespace kiln
