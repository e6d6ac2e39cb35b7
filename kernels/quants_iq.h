// The codebook ("grid") formats IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S, as
// ggml defines them. Each super-block of 256 is 8 sub-blocks of 32 elements; every format is
// read the same way:
//   x = factor(block) * scale * q
// with q a small signed integer level, scale an odd integer per 16 elements, and factor the
// block's f16 scale times a power of two. A format describes itself by:
//   d16(b), kScale          the factor is the f16 d16(b) times kScale (a power of two);
//   scales(b, ib, s)        s[0], s[1]: the scales of sub-block ib's two halves;
//   words(b, ib, w, bits)   the sub-block's 32 levels as four 8-byte grid words, lowest byte
//                           first. Sign grids (IQ2, IQ3): magnitudes, and bit j of `bits`
//                           negates element j. Ternary grids (IQ1): levels g in {-1, 0, 1},
//                           and q = 8 g + 1, or 8 g - 1 where bit k of `bits` is set for
//                           group k of 8 (the format's +-1/8 shift, in eighths).
// The scalar reference (levels() below) and the 256-bit kernels start from words(); the 512-bit
// kernels of IQ2_XXS, IQ2_XS and IQ3_XXS read whole super-blocks themselves, and the kernel
// tests hold them to the reference.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/iq_grids.h"

namespace kiln {

struct BlockIQ2_XXS {
    uint16_t d;
    uint16_t qs[32];  // per sub-block: 4 grid indices (bytes), then 4 x 7 sign bits and the scale
};
struct BlockIQ2_XS {
    uint16_t d;
    uint16_t qs[32];      // 9-bit grid index, 7 sign bits
    uint8_t scales[8];    // two 4-bit scales per sub-block
};
struct BlockIQ2_S {
    uint16_t d;
    uint8_t qs[64];      // 32 grid index low bytes, then 32 sign bytes
    uint8_t qh[8];       // the indices' top 2 bits
    uint8_t scales[8];
};
struct BlockIQ3_XXS {
    uint16_t d;
    uint8_t qs[96];  // 64 grid indices, then per sub-block 4 x 7 sign bits and the scale
};
struct BlockIQ3_S {
    uint16_t d;
    uint8_t qs[64];     // grid index low bytes
    uint8_t qh[8];      // their ninth bits
    uint8_t signs[32];
    uint8_t scales[4];  // 4-bit scales
};
struct BlockIQ1_S {
    uint16_t d;
    uint8_t qs[32];   // grid index low bytes
    uint16_t qh[8];   // per sub-block: 4 x 3 index bits, a 3-bit scale, the shift's sign
};
struct BlockIQ1_M {
    uint8_t qs[32];
    uint8_t qh[16];     // per 8 elements: 3 index bits and the shift's sign
    uint8_t scales[8];  // 3-bit scales per 16 elements; the f16 factor in the top nibbles
};
static_assert(sizeof(BlockIQ2_XXS) == 66 && sizeof(BlockIQ2_XS) == 74 && sizeof(BlockIQ2_S) == 82);
static_assert(sizeof(BlockIQ3_XXS) == 98 && sizeof(BlockIQ3_S) == 110);
static_assert(sizeof(BlockIQ1_S) == 50 && sizeof(BlockIQ1_M) == 56);

namespace iq {

// IQ2 and IQ3_XXS store 7 sign bits per 8 levels; the eighth makes the number of minus signs
// even. (A table: the kernels look it up four times per 32 weights.)
inline constexpr auto kSigns8 = [] {
    std::array<uint8_t, 128> t{};
    for (uint32_t s = 0; s < 128; ++s) t[s] = static_cast<uint8_t>(s | (std::popcount(s) & 1u) << 7);
    return t;
}();
inline uint32_t signs8(uint32_t s7) { return kSigns8[s7 & 127]; }

inline uint32_t load_u32(const void* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
inline uint64_t pair(uint32_t lo, uint32_t hi) { return lo | uint64_t{hi} << 32; }
// Two 4-bit scales in a byte, as odd factors.
inline void nibble_scales(uint8_t v, int s[2]) {
    s[0] = 2 * (v & 0xF) + 1;
    s[1] = 2 * (v >> 4) + 1;
}

struct Iq2xxs {
    using Block = BlockIQ2_XXS;
    static constexpr bool ternary = false;
    static constexpr float kScale = 0.125f;
    static uint16_t d16(const Block& b) { return b.d; }
    static uint32_t aux(const Block& b, int ib) { return b.qs[4 * ib + 2] | uint32_t{b.qs[4 * ib + 3]} << 16; }
    static void scales(const Block& b, int ib, int s[2]) { s[0] = s[1] = 2 * static_cast<int>(aux(b, ib) >> 28) + 1; }
    static void words(const Block& b, int ib, uint64_t w[4], uint32_t& bits) {
        const uint32_t idx = b.qs[4 * ib] | uint32_t{b.qs[4 * ib + 1]} << 16, a = aux(b, ib);
        bits = 0;
        for (int l = 0; l < 4; ++l) {
            w[l] = kIq2xxsGrid[(idx >> 8 * l) & 0xFF];
            bits |= signs8(a >> 7 * l) << 8 * l;
        }
    }
};

struct Iq2xs {
    using Block = BlockIQ2_XS;
    static constexpr bool ternary = false;
    static constexpr float kScale = 0.125f;
    static uint16_t d16(const Block& b) { return b.d; }
    static void scales(const Block& b, int ib, int s[2]) { nibble_scales(b.scales[ib], s); }
    static void words(const Block& b, int ib, uint64_t w[4], uint32_t& bits) {
        bits = 0;
        for (int l = 0; l < 4; ++l) {
            const uint32_t q = b.qs[4 * ib + l];
            w[l] = kIq2xsGrid[q & 511];
            bits |= signs8(q >> 9) << 8 * l;
        }
    }
};

struct Iq2s {
    using Block = BlockIQ2_S;
    static constexpr bool ternary = false;
    static constexpr float kScale = 0.125f;
    static uint16_t d16(const Block& b) { return b.d; }
    static void scales(const Block& b, int ib, int s[2]) { nibble_scales(b.scales[ib], s); }
    static void words(const Block& b, int ib, uint64_t w[4], uint32_t& bits) {
        for (int l = 0; l < 4; ++l) w[l] = kIq2sGrid[b.qs[4 * ib + l] | ((b.qh[ib] << (8 - 2 * l)) & 0x300)];
        bits = load_u32(b.qs + 32 + 4 * ib);
    }
};

struct Iq3xxs {
    using Block = BlockIQ3_XXS;
    static constexpr bool ternary = false;
    static constexpr float kScale = 0.25f;
    static uint16_t d16(const Block& b) { return b.d; }
    static void scales(const Block& b, int ib, int s[2]) {
        s[0] = s[1] = 2 * static_cast<int>(load_u32(b.qs + 64 + 4 * ib) >> 28) + 1;
    }
    static void words(const Block& b, int ib, uint64_t w[4], uint32_t& bits) {
        const uint8_t* q = b.qs + 8 * ib;
        const uint32_t a = load_u32(b.qs + 64 + 4 * ib);
        bits = 0;
        for (int l = 0; l < 4; ++l) {
            w[l] = pair(kIq3xxsGrid[q[2 * l]], kIq3xxsGrid[q[2 * l + 1]]);
            bits |= signs8(a >> 7 * l) << 8 * l;
        }
    }
};

struct Iq3s {
    using Block = BlockIQ3_S;
    static constexpr bool ternary = false;
    static constexpr float kScale = 1.0f;
    static uint16_t d16(const Block& b) { return b.d; }
    static void scales(const Block& b, int ib, int s[2]) { s[0] = s[1] = 2 * ((b.scales[ib / 2] >> 4 * (ib % 2)) & 0xF) + 1; }
    static void words(const Block& b, int ib, uint64_t w[4], uint32_t& bits) {
        const uint8_t* q = b.qs + 8 * ib;
        const uint32_t h = b.qh[ib];
        for (int l = 0; l < 4; ++l)
            w[l] = pair(kIq3sGrid[q[2 * l] | ((h << (8 - 2 * l)) & 256)], kIq3sGrid[q[2 * l + 1] | ((h << (7 - 2 * l)) & 256)]);
        bits = load_u32(b.signs + 4 * ib);
    }
};

struct Iq1s {
    using Block = BlockIQ1_S;
    static constexpr bool ternary = true;
    static constexpr float kScale = 0.125f;
    static uint16_t d16(const Block& b) { return b.d; }
    static void scales(const Block& b, int ib, int s[2]) { s[0] = s[1] = 2 * ((b.qh[ib] >> 12) & 7) + 1; }
    static void words(const Block& b, int ib, uint64_t w[4], uint32_t& bits) {
        for (int l = 0; l < 4; ++l) w[l] = kIq1sGrid[b.qs[4 * ib + l] | (((b.qh[ib] >> 3 * l) & 7) << 8)];
        bits = (b.qh[ib] & 0x8000) ? 0xF : 0;
    }
};

struct Iq1m {
    using Block = BlockIQ1_M;
    static constexpr bool ternary = true;
    static uint16_t sc(const Block& b, int k) { return static_cast<uint16_t>(b.scales[2 * k] | b.scales[2 * k + 1] << 8); }
    static constexpr float kScale = 0.125f;
    static uint16_t d16(const Block& b) {
        return static_cast<uint16_t>((sc(b, 0) >> 12) | ((sc(b, 1) >> 8) & 0xF0) | ((sc(b, 2) >> 4) & 0xF00) | (sc(b, 3) & 0xF000));
    }
    static void scales(const Block& b, int ib, int s[2]) {
        const int v = sc(b, ib / 2) >> 6 * (ib % 2);
        s[0] = 2 * (v & 7) + 1;
        s[1] = 2 * ((v >> 3) & 7) + 1;
    }
    static void words(const Block& b, int ib, uint64_t w[4], uint32_t& bits) {
        const uint8_t* q = b.qs + 4 * ib;
        const uint8_t* h = b.qh + 2 * ib;
        bits = 0;
        for (int l = 0; l < 4; ++l) {
            const uint32_t hb = h[l / 2] >> 4 * (l % 2);  // this group's nibble
            w[l] = kIq1sGrid[q[l] | ((hb & 7) << 8)];
            bits |= ((hb >> 3) & 1) << l;
        }
    }
};

template <class F>
float factor(const typename F::Block& b) {
    return f16_to_f32(F::d16(b)) * F::kScale;
}

// The 32 signed levels of sub-block ib.
template <class F>
void levels(const typename F::Block& b, int ib, int8_t q[32]) {
    uint64_t w[4];
    uint32_t bits;
    F::words(b, ib, w, bits);
    for (int j = 0; j < 32; ++j) {
        const auto v = static_cast<int8_t>(w[j / 8] >> 8 * (j % 8));
        if constexpr (F::ternary) q[j] = static_cast<int8_t>(8 * v + ((bits >> j / 8) & 1 ? -1 : 1));
        else q[j] = static_cast<int8_t>((bits >> j) & 1 ? -v : v);
    }
}

}  // namespace iq

void dequantize_row_iq2_xxs(const BlockIQ2_XXS* x, float* y, size_t n);
void dequantize_row_iq2_xs(const BlockIQ2_XS* x, float* y, size_t n);
void dequantize_row_iq2_s(const BlockIQ2_S* x, float* y, size_t n);
void dequantize_row_iq3_xxs(const BlockIQ3_XXS* x, float* y, size_t n);
void dequantize_row_iq3_s(const BlockIQ3_S* x, float* y, size_t n);
void dequantize_row_iq1_s(const BlockIQ1_S* x, float* y, size_t n);
void dequantize_row_iq1_m(const BlockIQ1_M* x, float* y, size_t n);

}  // namespace kiln
