// Quantized weights (the Q, K and IQ types) against quantized activations: a scalar
// reference per type, and AVX2 / AVX-512 VNNI versions from one source
// (kernels/matmul_quant_x86.inc) compiled once per instruction set. Integer sums inside a
// block are exact; each block's scale is applied in float, blocks summed in row order.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/fp16.h"
#include "kernels/targets.h"
#include "kernels/matmul_kernels.h"
#include "kernels/quants.h"
#include "kernels/quants_iq.h"

namespace kiln {

namespace {

float dot_q8_0_scalar(size_t n, const uint8_t* w, const uint8_t* x) {
    const auto* a = reinterpret_cast<const BlockQ8_0*>(w);
    const auto* b = reinterpret_cast<const BlockQ8_0*>(x);
    float sum = 0.0f;
    for (size_t i = 0; i < n / QK8_0; ++i) {
        int s = 0;
        for (size_t j = 0; j < QK8_0; ++j) s += a[i].qs[j] * b[i].qs[j];
        sum += f16_to_f32(a[i].d) * f16_to_f32(b[i].d) * static_cast<float>(s);
    }
    return sum;
}

float dot_q4_0_scalar(size_t n, const uint8_t* w, const uint8_t* x) {
    const auto* a = reinterpret_cast<const BlockQ4_0*>(w);
    const auto* b = reinterpret_cast<const BlockQ8_0*>(x);
    float sum = 0.0f;
    for (size_t i = 0; i < n / QK4_0; ++i) {
        int s = 0;
        for (size_t j = 0; j < QK4_0 / 2; ++j)
            s += ((a[i].qs[j] & 0xF) - 8) * b[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        sum += f16_to_f32(a[i].d) * f16_to_f32(b[i].d) * static_cast<float>(s);
    }
    return sum;
}

// The 32-element blocks of Q4_1, Q5_0, Q5_1 and IQ4_NL: per block the integer sum of level x
// activation, times both scales, plus (affine types) the block's min times the scale and sum
// of the activations.
template <class Block, int (*level)(const Block&, size_t), float (*min)(const Block&)>
float dot_blocks32_scalar(size_t n, const uint8_t* w, const uint8_t* x) {
    const auto* a = reinterpret_cast<const Block*>(w);
    const auto* b = reinterpret_cast<const BlockQ8_0*>(x);
    float sum = 0.0f;
    for (size_t i = 0; i < n / QK8_0; ++i) {
        int s = 0, sx = 0;
        for (size_t j = 0; j < QK8_0; ++j) {
            s += level(a[i], j) * b[i].qs[j];
            sx += b[i].qs[j];
        }
        const float dx = f16_to_f32(b[i].d);
        sum += f16_to_f32(a[i].d) * dx * static_cast<float>(s) + min(a[i]) * dx * static_cast<float>(sx);
    }
    return sum;
}

template <class Block>
int nibble_level(const Block& b, size_t j) {
    return j < 16 ? (b.qs[j] & 0xF) : (b.qs[j - 16] >> 4);
}
template <class Block>
int five_bit_level(const Block& b, size_t j) {
    return nibble_level(b, j) | q5_high_bit(b.qh, j) << 4;
}
int level_q5_0(const BlockQ5_0& b, size_t j) { return five_bit_level(b, j) - 16; }
int level_iq4_nl(const BlockIQ4_NL& b, size_t j) { return kIq4nlValues[nibble_level(b, j)]; }
template <class Block>
float no_min(const Block&) {
    return 0.0f;
}
template <class Block>
float block_min(const Block& b) {
    return f16_to_f32(b.m);
}

// Q4_K and Q5_K share their scales: sum of sc_j * (q . x) over sub-blocks, minus the mins.
template <class Block, int (*level)(const Block&, size_t)>
float dot_k4_scalar(size_t n, const uint8_t* w, const uint8_t* x) {
    const auto* a = reinterpret_cast<const Block*>(w);
    const auto* b = reinterpret_cast<const BlockQ8_K*>(x);
    float sum = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            get_scale_min_k4(j, a[i].scales, sc, m);
            int s = 0;
            for (size_t l = 0; l < 32; ++l) s += level(a[i], 32 * j + l) * b[i].qs[32 * j + l];
            sumi += sc * s;
            summ += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        sum += b[i].d * (f16_to_f32(a[i].d) * static_cast<float>(sumi) - f16_to_f32(a[i].dmin) * static_cast<float>(summ));
    }
    return sum;
}

// Level (0..15 / 0..31) of element e of a super-block, from the layouts in kernels/quants.h.
int level_q4_k(const BlockQ4_K& b, size_t e) {
    const uint8_t byte = b.qs[e / 64 * 32 + e % 32];
    return (e % 64 < 32) ? (byte & 0xF) : (byte >> 4);
}
int level_q5_k(const BlockQ5_K& b, size_t e) {
    const uint8_t byte = b.qs[e / 64 * 32 + e % 32];
    const int lo = (e % 64 < 32) ? (byte & 0xF) : (byte >> 4);
    return lo + (((b.qh[e % 32] >> (e / 32)) & 1) << 4);
}

float dot_q6_k_scalar(size_t n, const uint8_t* w, const uint8_t* x) {
    const auto* a = reinterpret_cast<const BlockQ6_K*>(w);
    const auto* b = reinterpret_cast<const BlockQ8_K*>(x);
    float sum = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        int sumi = 0;
        for (size_t s = 0; s < 16; ++s) {
            int acc = 0;
            for (size_t l = 0; l < 16; ++l) {
                const size_t e = 16 * s + l, h = e / 128, r = e % 128;
                const uint8_t lo = a[i].ql[64 * h + r % 64];
                const int low = (r < 64) ? (lo & 0xF) : (lo >> 4);
                const int high = (a[i].qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
                acc += ((low | (high << 4)) - 32) * b[i].qs[e];
            }
            sumi += a[i].scales[s] * acc;
        }
        sum += b[i].d * f16_to_f32(a[i].d) * static_cast<float>(sumi);
    }
    return sum;
}

float dot_iq4_xs_scalar(size_t n, const uint8_t* w, const uint8_t* x) {
    const auto* a = reinterpret_cast<const BlockIQ4_XS*>(w);
    const auto* b = reinterpret_cast<const BlockQ8_K*>(x);
    float sum = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        int sumi = 0;
        for (size_t ib = 0; ib < 8; ++ib) {
            int s = 0;
            for (size_t j = 0; j < 32; ++j) {
                const size_t k = j < 16 ? (a[i].qs[16 * ib + j] & 0xF) : (a[i].qs[16 * ib + j - 16] >> 4);
                s += kIq4nlValues[k] * b[i].qs[32 * ib + j];
            }
            sumi += (iq4_xs_scale(a[i], ib) - 32) * s;
        }
        sum += b[i].d * f16_to_f32(a[i].d) * static_cast<float>(sumi);
    }
    return sum;
}

float dot_q2_k_scalar(size_t n, const uint8_t* w, const uint8_t* x) {
    const auto* a = reinterpret_cast<const BlockQ2_K*>(w);
    const auto* b = reinterpret_cast<const BlockQ8_K*>(x);
    float sum = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        int sumi = 0, summ = 0;
        for (size_t g = 0; g < 16; ++g) {
            int s = 0;
            for (size_t l = 0; l < 16; ++l) s += k_low2(a[i].qs, 16 * g + l) * b[i].qs[16 * g + l];
            sumi += (a[i].scales[g] & 0xF) * s;
            summ += (a[i].scales[g] >> 4) * b[i].bsums[g];
        }
        sum += b[i].d * (f16_to_f32(a[i].d) * static_cast<float>(sumi) - f16_to_f32(a[i].dmin) * static_cast<float>(summ));
    }
    return sum;
}

float dot_q3_k_scalar(size_t n, const uint8_t* w, const uint8_t* x) {
    const auto* a = reinterpret_cast<const BlockQ3_K*>(w);
    const auto* b = reinterpret_cast<const BlockQ8_K*>(x);
    float sum = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        int8_t sc[16];
        q3_k_scales(a[i].scales, sc);
        int sumi = 0;
        for (size_t g = 0; g < 16; ++g) {
            int s = 0;
            for (size_t l = 0; l < 16; ++l) {
                const size_t e = 16 * g + l;
                s += ((k_low2(a[i].qs, e) | q3_k_high(a[i], e) << 2) - 4) * b[i].qs[e];
            }
            sumi += (sc[g] - 32) * s;
        }
        sum += b[i].d * f16_to_f32(a[i].d) * static_cast<float>(sumi);
    }
    return sum;
}

// The codebook formats (kernels/quants_iq.h): per half sub-block the integer sum of level x
// activation times its scale; one float step per super-block.
template <class F>
float dot_iq_scalar(size_t n, const uint8_t* w, const uint8_t* x) {
    const auto* a = reinterpret_cast<const typename F::Block*>(w);
    const auto* b = reinterpret_cast<const BlockQ8_K*>(x);
    float sum = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        int sumi = 0;
        for (int ib = 0; ib < 8; ++ib) {
            int8_t q[32];
            int sc[2];
            iq::levels<F>(a[i], ib, q);
            F::scales(a[i], ib, sc);
            for (int h = 0; h < 2; ++h) {
                int s = 0;
                for (int j = 16 * h; j < 16 * h + 16; ++j) s += q[j] * b[i].qs[32 * ib + j];
                sumi += sc[h] * s;
            }
        }
        sum += b[i].d * iq::factor<F>(a[i]) * static_cast<float>(sumi);
    }
    return sum;
}

template <float (*dot)(size_t, const uint8_t*, const uint8_t*)>
void tile_scalar(KILN_MATMUL_TILE_ARGS) {
    for (size_t t = 0; t < n_tokens; ++t)
        for (size_t r = 0; r < n_rows; ++r) y[t * ldy + r] = dot(n, w + r * row_bytes, x + t * x_stride);
}

}  // namespace

#define KILN_TILE_ARGS_PASS w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy
void matmul_tile_q8_0_scalar(KILN_MATMUL_TILE_ARGS) { tile_scalar<dot_q8_0_scalar>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy); }
void matmul_tile_q4_0_scalar(KILN_MATMUL_TILE_ARGS) { tile_scalar<dot_q4_0_scalar>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy); }
void matmul_tile_q4_k_scalar(KILN_MATMUL_TILE_ARGS) {
    tile_scalar<dot_k4_scalar<BlockQ4_K, level_q4_k>>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy);
}
void matmul_tile_q5_k_scalar(KILN_MATMUL_TILE_ARGS) {
    tile_scalar<dot_k4_scalar<BlockQ5_K, level_q5_k>>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy);
}
void matmul_tile_q6_k_scalar(KILN_MATMUL_TILE_ARGS) { tile_scalar<dot_q6_k_scalar>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy); }
void matmul_tile_iq4_xs_scalar(KILN_MATMUL_TILE_ARGS) { tile_scalar<dot_iq4_xs_scalar>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy); }
void matmul_tile_q2_k_scalar(KILN_MATMUL_TILE_ARGS) { tile_scalar<dot_q2_k_scalar>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy); }
void matmul_tile_q3_k_scalar(KILN_MATMUL_TILE_ARGS) { tile_scalar<dot_q3_k_scalar>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy); }
#define KILN_IQ_SCALAR(name, F) \
    void matmul_tile_##name##_scalar(KILN_MATMUL_TILE_ARGS) { tile_scalar<dot_iq_scalar<iq::F>>(KILN_TILE_ARGS_PASS); }
KILN_IQ_SCALAR(iq2_xxs, Iq2xxs)
KILN_IQ_SCALAR(iq2_xs, Iq2xs)
KILN_IQ_SCALAR(iq2_s, Iq2s)
KILN_IQ_SCALAR(iq3_xxs, Iq3xxs)
KILN_IQ_SCALAR(iq3_s, Iq3s)
KILN_IQ_SCALAR(iq1_s, Iq1s)
KILN_IQ_SCALAR(iq1_m, Iq1m)
#undef KILN_IQ_SCALAR
void matmul_tile_q4_1_scalar(KILN_MATMUL_TILE_ARGS) {
    tile_scalar<dot_blocks32_scalar<BlockQ4_1, nibble_level<BlockQ4_1>, block_min<BlockQ4_1>>>(w, row_bytes, n_rows, x, x_stride,
                                                                                               n_tokens, n, y, ldy);
}
void matmul_tile_q5_0_scalar(KILN_MATMUL_TILE_ARGS) {
    tile_scalar<dot_blocks32_scalar<BlockQ5_0, level_q5_0, no_min<BlockQ5_0>>>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy);
}
void matmul_tile_q5_1_scalar(KILN_MATMUL_TILE_ARGS) {
    tile_scalar<dot_blocks32_scalar<BlockQ5_1, five_bit_level<BlockQ5_1>, block_min<BlockQ5_1>>>(w, row_bytes, n_rows, x, x_stride,
                                                                                                 n_tokens, n, y, ldy);
}
void matmul_tile_iq4_nl_scalar(KILN_MATMUL_TILE_ARGS) {
    tile_scalar<dot_blocks32_scalar<BlockIQ4_NL, level_iq4_nl, no_min<BlockIQ4_NL>>>(w, row_bytes, n_rows, x, x_stride, n_tokens, n,
                                                                                     y, ldy);
}

// The exported tile functions of one instruction set's namespace.
#define KILN_DEFINE_TILES(isa)                                                                                 \
    void matmul_tile_q8_0_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Blocks32<isa::Q8_0Levels>>(KILN_TILE_ARGS_PASS); } \
    void matmul_tile_q4_0_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Blocks32<isa::Q4_0Levels>>(KILN_TILE_ARGS_PASS); } \
    void matmul_tile_q4_k_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::K4<BlockQ4_K, false>>(KILN_TILE_ARGS_PASS); }      \
    void matmul_tile_q5_k_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::K4<BlockQ5_K, true>>(KILN_TILE_ARGS_PASS); }       \
    void matmul_tile_q6_k_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Q6K>(KILN_TILE_ARGS_PASS); }                       \
    void matmul_tile_q4_1_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Blocks32<isa::Q4_1Levels>>(KILN_TILE_ARGS_PASS); } \
    void matmul_tile_q5_0_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Blocks32<isa::Q5_0Levels>>(KILN_TILE_ARGS_PASS); } \
    void matmul_tile_q5_1_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Blocks32<isa::Q5_1Levels>>(KILN_TILE_ARGS_PASS); } \
    void matmul_tile_iq4_nl_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Blocks32<isa::IQ4_NLLevels>>(KILN_TILE_ARGS_PASS); } \
    void matmul_tile_iq4_xs_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::IQ4XS>(KILN_TILE_ARGS_PASS); }                       \
    void matmul_tile_q2_k_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::K16<false>>(KILN_TILE_ARGS_PASS); }                     \
    void matmul_tile_q3_k_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::K16<true>>(KILN_TILE_ARGS_PASS); }                      \
    void matmul_tile_iq2_xxs_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Iq<iq::Iq2xxs>>(KILN_TILE_ARGS_PASS); }              \
    void matmul_tile_iq2_xs_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Iq<iq::Iq2xs>>(KILN_TILE_ARGS_PASS); }                \
    void matmul_tile_iq2_s_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Iq<iq::Iq2s>>(KILN_TILE_ARGS_PASS); }                  \
    void matmul_tile_iq3_xxs_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Iq<iq::Iq3xxs>>(KILN_TILE_ARGS_PASS); }              \
    void matmul_tile_iq3_s_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Iq<iq::Iq3s>>(KILN_TILE_ARGS_PASS); }                  \
    void matmul_tile_iq1_s_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Iq<iq::Iq1s>>(KILN_TILE_ARGS_PASS); }                  \
    void matmul_tile_iq1_m_##isa(KILN_MATMUL_TILE_ARGS) { isa::tile<isa::Iq<iq::Iq1m>>(KILN_TILE_ARGS_PASS); }

// GCC 12 warns falsely inside its own AVX-512 headers (_mm512_undefined_*).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

KILN_BEGIN_TARGET(KILN_TARGET_AVX2)
namespace avx2 {
namespace {
// u8 x s8 products summed in fours into the i32 lanes of acc (maddubs cannot overflow here:
// the kernels keep each product within 128 * 127).
inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
#include "kernels/matmul_quant_x86.inc"
#include "kernels/matmul_iq_x86.inc"
}  // namespace
}  // namespace avx2
KILN_DEFINE_TILES(avx2)
KILN_END_TARGET

KILN_BEGIN_TARGET(KILN_TARGET_AVX512)
namespace avx512 {
namespace {
#define KILN_AVX512
inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
#include "kernels/matmul_quant_x86.inc"
#include "kernels/matmul_iq_x86.inc"
#undef KILN_AVX512
}  // namespace
}  // namespace avx512
KILN_DEFINE_TILES(avx512)
KILN_END_TARGET

}  // namespace kiln
