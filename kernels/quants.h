// Block layouts of GGUF's quantized types (as ggml defines them), with scalar reference
// quantization and dequantization. Rows are whole numbers of blocks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu.h"
#include "kernels/types.h"

namespace kiln {

constexpr size_t QK8_0 = 32, QK4_0 = 32, QK_K = 256;

struct BlockQ8_0 {
    uint16_t d;  // f16 scale
    int8_t qs[QK8_0];
};
struct BlockQ4_0 {
    uint16_t d;         // f16 scale; x = d * (q - 8)
    uint8_t qs[QK4_0 / 2];  // element i in the low nibble of byte i, element i + 16 in its high nibble
};
// x = d * q + m, q in 0..15; nibbles as in Q4_0.
struct BlockQ4_1 {
    uint16_t d, m;
    uint8_t qs[QK4_0 / 2];
};
// x = d * (q - 16), q in 0..31: the low four bits as Q4_0's nibbles, bit 4 of element i in bit
// i of qh (little-endian).
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[QK4_0 / 2];
};
// x = d * q + m, q in 0..31, laid out as Q5_0.
struct BlockQ5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[QK4_0 / 2];
};
// x = d * kIq4nlValues[q], q in 0..15, nibbles as in Q4_0.
struct BlockIQ4_NL {
    uint16_t d;
    uint8_t qs[QK4_0 / 2];
};
// IQ4_NL's codebook (the format's constants): 16 levels denser near zero.
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// 8 sub-blocks of 32 with IQ4_NL's codebook: x = d * (ls - 32) * kIq4nlValues[q], ls the
// sub-block's 6-bit scale (low 4 bits in scales_l, nibble ib % 2 of byte ib / 2; high 2 bits
// in bits 2 ib of scales_h); sub-block ib's levels are the nibbles of qs[16 ib .. 16 ib + 15]
// in Q4_0's order.
struct BlockIQ4_XS {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
};
// 16 groups of 16 with 4-bit scales and mins: x = d * (sc & 15) * q - dmin * (sc >> 4), q in 0..3;
// element 128 h + 32 j + l (l < 32) in bits 2j of qs[32 h + l].
struct BlockQ2_K {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    uint16_t d, dmin;
};
// 16 groups of 16 with 6-bit scales: x = d * (sc - 32) * (q - 4), q in 0..7: its low two bits
// as Q2_K's, its third in bit 4h + j of hmask[l]; the scales packed as in kernels/quants.cpp.
struct BlockQ3_K {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
};

// 8 sub-blocks of 32, each with a 6-bit scale and min: x = d * sc * q - dmin * m.
struct BlockQ4_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[QK_K / 2];
};
struct BlockQ5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
};
// 16 sub-blocks of 16 with int8 scales: x = d * sc * (q - 32), q in 0..63.
struct BlockQ6_K {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
};
// Activations for the K-quant dot products.
struct BlockQ8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];  // sums of each group of 16 qs
};

static_assert(sizeof(BlockIQ4_XS) == 136 && sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 && sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Row conversions; n is a multiple of the type's block size.
void quantize_row_q8_0(const float* x, BlockQ8_0* y, size_t n);
void quantize_row_q4_0(const float* x, BlockQ4_0* y, size_t n);
void quantize_row_q4_1(const float* x, BlockQ4_1* y, size_t n);
void quantize_row_q5_0(const float* x, BlockQ5_0* y, size_t n);
void quantize_row_q5_1(const float* x, BlockQ5_1* y, size_t n);
void quantize_row_iq4_nl(const float* x, BlockIQ4_NL* y, size_t n);
void quantize_row_iq4_xs(const float* x, BlockIQ4_XS* y, size_t n);
void quantize_row_q2_K(const float* x, BlockQ2_K* y, size_t n);
void quantize_row_q3_K(const float* x, BlockQ3_K* y, size_t n);
void quantize_row_q4_K(const float* x, BlockQ4_K* y, size_t n);
void quantize_row_q5_K(const float* x, BlockQ5_K* y, size_t n);
void quantize_row_q6_K(const float* x, BlockQ6_K* y, size_t n);
void quantize_row_q8_K(const float* x, BlockQ8_K* y, size_t n);
// The same weighing each element's squared error by importance[i] (an importance matrix's
// column means; nullptr: the plain forms above).
void quantize_row_q4_0(const float* x, BlockQ4_0* y, size_t n, const float* importance);
void quantize_row_q4_1(const float* x, BlockQ4_1* y, size_t n, const float* importance);
void quantize_row_q5_0(const float* x, BlockQ5_0* y, size_t n, const float* importance);
void quantize_row_q5_1(const float* x, BlockQ5_1* y, size_t n, const float* importance);
void quantize_row_iq4_nl(const float* x, BlockIQ4_NL* y, size_t n, const float* importance);
void quantize_row_iq4_xs(const float* x, BlockIQ4_XS* y, size_t n, const float* importance);
void quantize_row_q2_K(const float* x, BlockQ2_K* y, size_t n, const float* importance);
void quantize_row_q3_K(const float* x, BlockQ3_K* y, size_t n, const float* importance);
void quantize_row_q4_K(const float* x, BlockQ4_K* y, size_t n, const float* importance);
void quantize_row_q5_K(const float* x, BlockQ5_K* y, size_t n, const float* importance);
void quantize_row_q6_K(const float* x, BlockQ6_K* y, size_t n, const float* importance);
// The same blocks, bit for bit, with AVX-512 (kernels/quants_x86.cpp); callers check the CPU.
void quantize_row_q8_0_avx512(const float* x, BlockQ8_0* y, size_t n);
void quantize_row_q8_K_avx512(const float* x, BlockQ8_K* y, size_t n);
void quantize_row_f16_avx512(const float* x, uint16_t* y, size_t n);  // NaNs stay NaN, payload aside
// quantize_row through the fastest of those isa allows: the same bytes.
void quantize_row(Isa isa, DType type, const float* x, void* y, size_t n);

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, size_t n);
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, size_t n);
void dequantize_row_q4_1(const BlockQ4_1* x, float* y, size_t n);
void dequantize_row_q5_0(const BlockQ5_0* x, float* y, size_t n);
void dequantize_row_q5_1(const BlockQ5_1* x, float* y, size_t n);
void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, size_t n);
void dequantize_row_iq4_xs(const BlockIQ4_XS* x, float* y, size_t n);
void dequantize_row_q2_K(const BlockQ2_K* x, float* y, size_t n);
void dequantize_row_q3_K(const BlockQ3_K* x, float* y, size_t n);

// Sub-block ib's 6-bit scale of an IQ4_XS block (0..63; the factor is this minus 32).
inline int iq4_xs_scale(const BlockIQ4_XS& b, size_t ib) {
    return ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b.scales_h >> (2 * ib)) & 3) << 4);
}
// Level (0..3) of element e of a Q2_K / Q3_K super-block's two low bits.
inline int k_low2(const uint8_t* qs, size_t e) { return (qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3; }
// The third bit of element e of a Q3_K block.
inline int q3_k_high(const BlockQ3_K& b, size_t e) { return (b.hmask[e % 32] >> (4 * (e / 128) + e % 128 / 32)) & 1; }
// The 16 scales of a Q3_K block, 0..63 (the factor is this minus 32).
void q3_k_scales(const uint8_t packed[12], int8_t out[16]);

// Bit 4 of element i (0..31) of a Q5_0 / Q5_1 block.
inline int q5_high_bit(const uint8_t qh[4], size_t i) { return (qh[i / 8] >> (i % 8)) & 1; }
void dequantize_row_q4_K(const BlockQ4_K* x, float* y, size_t n);
void dequantize_row_q5_K(const BlockQ5_K* x, float* y, size_t n);
void dequantize_row_q6_K(const BlockQ6_K* x, float* y, size_t n);

// The plain types' rows.
void quantize_row_f16(const float* x, uint16_t* y, size_t n);
void quantize_row_bf16(const float* x, uint16_t* y, size_t n);
void dequantize_row_f16(const uint16_t* x, float* y, size_t n);
void dequantize_row_bf16(const uint16_t* x, float* y, size_t n);

// Through the type's row of kernels/type_table.h: any type kiln writes (the quantizers above,
// also Q8_K, the activation type) and reads.
void quantize_row(DType type, const float* x, void* y, size_t n);
void dequantize_row(DType type, const void* x, float* y, size_t n);
// With a weight per element (nullptr: none) for the types whose quantizer takes one.
void quantize_row(DType type, const float* x, void* y, size_t n, const float* importance);

// n_rows rows of n elements from one type to another (through float), in parallel. With an
// importance matrix (n weights per group of rows_per_importance rows, as an imatrix holds one
// per expert of a 3-D tensor), types with a weighted quantizer use it.
void convert_rows(DType from, const void* src, DType to, void* dst, size_t n_rows, size_t n, int n_threads,
                  const float* importance = nullptr, size_t rows_per_importance = 0);

}  // namespace kiln
