// Matrix products of a weight matrix (any computable GGUF type) with a batch of activations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/aligned.h"
#include "kernels/cpu.h"
#include "kernels/repack.h"
#include "kernels/types.h"

namespace kiln {

#define KILN_MATMUL_TILE_ARGS                                                                                 \
    const uint8_t *w, size_t row_bytes, size_t n_rows, const uint8_t *x, size_t x_stride, size_t n_tokens, \
        size_t n, float *y, size_t ldy

// y[t * ldy + r] = dot(row r of w, activation row t) for r < n_rows, t < n_tokens. Weight rows
// are row_bytes apart; activation rows (already in the kernel's activation type) x_stride
// bytes apart. A result depends only on its row, its activation row, n and the ISA: never
// on the tile, so batching and threading cannot change logits.
using MatmulTileFn = void (*)(KILN_MATMUL_TILE_ARGS);

// How a kernel takes its activations: one row per token, x_stride bytes apart; or (the AMX
// strip kernels) Q8_0 in tiles: tokens in groups of 16, the last maybe shorter, group g at
// x + 16 * g * x_stride; in a group of T tokens the levels block by block, each block T rows
// of 32 bytes (an AMX tile, read in one sweep), then the scales as floats, block by block, T
// each.
enum class ActLayout { rows, tiles16 };

struct MatmulKernel {
    DType act_type;     // F32 (float weights), Q8_0 (Q8_0, Q4_0) or Q8_K (K-quants)
    MatmulTileFn tile;  // nullptr when kiln has no kernel for the type
    ActLayout act_layout = ActLayout::rows;
};

// A strips16 kernel takes any run of whole 16-row strips in one call (it sets the AMX tile
// configuration, which costs as much as a few blocks, once per call); other kernels take up to
// 16 rows at a time, so that each block of rows stays in cache while every token passes.
MatmulKernel matmul_kernel(DType type, Isa isa, Layout layout = Layout::rows);

// One matmul input: float rows, converted on first use into each activation type a
// kernel asks for, so that matrices sharing an input (Q, K, V) quantize it once.
class MatmulInput {
public:
    void set(const float* x, size_t ldx, size_t n_tokens, size_t n_cols);
    // The activations in act_type (for F32, x itself) and layout, and their stride in bytes
    // per token; isa picks the quantizer (each gives the same bytes), rows split over up to
    // n_threads.
    const uint8_t* rows(DType act_type, ActLayout layout, Isa isa, int n_threads, size_t& stride);
    size_t n_tokens() const { return n_tokens_; }
    size_t n_cols() const { return n_cols_; }

private:
    const float* x_ = nullptr;
    size_t ldx_ = 0, n_tokens_ = 0, n_cols_ = 0;
    struct Quantized {
        AlignedVector<uint8_t> bytes;  // grows to the largest input seen, then stays
        bool valid = false;          // holds the current input
    };
    Quantized q8_0_, q8_k_, q8_0_tiles_;
};

struct WeightMatrix {
    const void* data;
    DType type;
    size_t n_rows;  // output features
    size_t n_cols;  // input features
    Layout layout = Layout::rows;
};

// y[t * ldy + r] = dot(row r of w, input row t), parallel over rows with up to n_threads.
void matmul(Isa isa, const WeightMatrix& w, MatmulInput& in, float* y, size_t ldy, int n_threads);

struct MatmulOutput {
    const WeightMatrix* w;
    float* y;
    size_t ldy;
};

// Several matrices that read the same input (Q, K, V; gate, up) in one parallel pass, so
// that the threads split their rows together and meet at one barrier instead of several.
void matmul(Isa isa, std::span<const MatmulOutput> outputs, MatmulInput& in, int n_threads);

}  // namespace kiln
