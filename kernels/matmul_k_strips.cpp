// K-quant weights (Q4_K, Q5_K, Q6_K) in strips of 16 rows (kernels/repack.h) against Q8_K
// activations, with the strip's 16 rows in the 16 lanes of a vector. Every way below computes,
// per (row, token) and super-block, exact integer sums and then one float step, the scalar
// reference's formula, so batching cannot change a result:
//   Q6_K: sum of scale * (level - 32) * activation; y += (d * activation scale) * sum.
//   Q4_K, Q5_K: sumi = sum of scale * level * activation and summ = sum of min * the activations'
//         sub-block sum; y += activation scale * (d * sumi - dmin * summ).
//   - One token: straight from the strip; per sub-block VNNI dot products of the levels, times
//     the sub-block's scale in integers (Q6_K's -32 offset comes out through the activations'
//     group sums).
//   - Two or three tokens: the same, the super-block's levels unpacked once.
//   - Four or more: the super-block is unpacked once into its weights scale * level (Q6_K:
//     scale * (level - 32)), split exactly into high and low bytes, w = 256 * hi + lo (lo
//     unsigned; hi signed, -16..16 for Q6_K, 0..3 for Q4_K, 0..7 for Q5_K), so that AMX tile products sum a
//     whole super-block in integers: two products per 64 elements, one float step per
//     super-block.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "kernels/matmul_kernels.h"
#include "kernels/targets.h"
#include "kernels/quants.h"
#include "kernels/repack.h"
#include "kernels/strip_kernels.h"

namespace kiln {

// GCC's own intrinsic headers trip these in target regions.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

KILN_BEGIN_TARGET(KILN_TARGET_AMX)

namespace {

constexpr size_t kSuperBytes = kStripRows * sizeof(BlockQ6_K);
constexpr size_t kAmxMin = 4, kAmxTokens = 16;  // calls with kAmxMin tokens or more take tile products
constexpr size_t kPrefetchFar = 24576, kPrefetchNear = 2048;

inline void prefetch_super_block(const uint8_t* p) { prefetch_ahead(p, kSuperBytes, kPrefetchFar, kPrefetchNear); }

// 16 rows' f16 values (d, dmin) as floats.
inline __m512 load_d(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }

// The four groups of levels (0..63) of sub-block s: byte 4r + i of group g is level 4g + i of
// row r. A group's top two bits (bits 2g, 2g + 1 of H) go to bits 4 and 5, all else zero, by
// an affine byte map (output bit i takes the input bits that byte 7 - i of the matrix
// selects); a ternary op merges them with the nibble.
inline void unpack_levels(const uint8_t* p, size_t s, __m512i out[4]) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    constexpr int kLowFromA = 0xE4;  // (a & c) | (b & ~c)
    const uint8_t* sub = p + 288 + 192 * s;
    const __m512i n0 = _mm512_loadu_si512(sub), n1 = _mm512_loadu_si512(sub + 64), h = _mm512_loadu_si512(sub + 128);
    out[0] = _mm512_ternarylogic_epi32(n0, _mm512_gf2p8affine_epi64_epi8(h, _mm512_set1_epi64(0x01020000), 0), low4, kLowFromA);
    out[1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(n0, 4), _mm512_gf2p8affine_epi64_epi8(h, _mm512_set1_epi64(0x04080000), 0),
                                       low4, kLowFromA);
    out[2] = _mm512_ternarylogic_epi32(n1, _mm512_gf2p8affine_epi64_epi8(h, _mm512_set1_epi64(0x10200000), 0), low4, kLowFromA);
    out[3] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(n1, 4), _mm512_gf2p8affine_epi64_epi8(h, _mm512_set1_epi64(0x40800000), 0),
                                       low4, kLowFromA);
}

// Scale pair q of a super-block, (scale 2q, scale 2q + 1) of row r in lane r's 16-bit halves,
// and each alone as an int32 lane.
inline __m512i load_scale_pair(const uint8_t* p, size_t q) {
    return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 + 32 * q)));
}
inline __m512i even_scale(__m512i pair) { return _mm512_srai_epi32(_mm512_slli_epi32(pair, 16), 16); }
inline __m512i odd_scale(__m512i pair) { return _mm512_srai_epi32(pair, 16); }

inline __m512i broadcast4(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// y = (d * activation scale) * sum, plus y unless sb is the first super-block.
inline void finish(__m512i sum, __m512 d, float x_scale, size_t sb, float* y) {
    const __m512 prev = sb == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(y);
    _mm512_storeu_ps(y, _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(x_scale)), _mm512_cvtepi32_ps(sum), prev));
}

// sum - 32 * (sum over sub-blocks of scale * the activations' group sum): removes the offset
// of levels 0..63.
inline __m512i remove_offset(__m512i sum, const __m512i pair_scale[8], const BlockQ8_K& b) {
    __m512i corr = _mm512_setzero_si512();
    for (size_t q = 0; q < 8; ++q) corr = _mm512_dpwssd_epi32(corr, pair_scale[q], broadcast4(b.bsums + 2 * q));
    return _mm512_sub_epi32(sum, _mm512_slli_epi32(corr, 5));
}

// The integer sum of sub-block levels (four groups) times token x's 16 activations.
inline __m512i sub_block_sum(const __m512i levels[4], const int8_t* x) {
    __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), levels[0], broadcast4(x));
    for (size_t g = 1; g < 4; ++g) c = _mm512_dpbusd_epi32(c, levels[g], broadcast4(x + 4 * g));
    return c;
}

// One token straight from the strip, the levels never stored.
void super_block_direct(const uint8_t* p, const uint8_t* x, size_t sb, float* y) {
    prefetch_super_block(p);
    const BlockQ8_K& b = reinterpret_cast<const BlockQ8_K*>(x)[sb];
    __m512i sum = _mm512_setzero_si512(), pair[8];
    for (size_t q = 0; q < 8; ++q) {
        pair[q] = load_scale_pair(p, q);
        __m512i levels[4];
        unpack_levels(p, 2 * q, levels);
        sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(even_scale(pair[q]), sub_block_sum(levels, b.qs + 32 * q)));
        unpack_levels(p, 2 * q + 1, levels);
        sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(odd_scale(pair[q]), sub_block_sum(levels, b.qs + 32 * q + 16)));
    }
    finish(remove_offset(sum, pair, b), load_d(p), b.d, sb, y);
}

// Two or three tokens: the levels of a super-block unpacked once.
struct alignas(64) Levels {
    __m512i levels[64];  // [4 * sub-block + group], as unpack_levels gives them
    __m512i scale[16];   // sub-block s: row r's scale in lane r
    __m512i pair_scale[8];
};

void unpack(const uint8_t* p, Levels& u) {
    prefetch_super_block(p);
    for (size_t q = 0; q < 8; ++q) {
        u.pair_scale[q] = load_scale_pair(p, q);
        u.scale[2 * q] = even_scale(u.pair_scale[q]);
        u.scale[2 * q + 1] = odd_scale(u.pair_scale[q]);
    }
    for (size_t s = 0; s < 16; ++s) unpack_levels(p, s, u.levels + 4 * s);
}

void super_block_vnni(const Levels& u, __m512 d, const uint8_t* x, size_t x_stride, size_t n_tokens, size_t sb, float* y,
                      size_t ldy) {
    for (size_t t = 0; t < n_tokens; ++t) {
        const BlockQ8_K& b = reinterpret_cast<const BlockQ8_K*>(x + t * x_stride)[sb];
        __m512i sum = _mm512_setzero_si512();
        for (size_t s = 0; s < 16; ++s)
            sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(u.scale[s], sub_block_sum(u.levels + 4 * s, b.qs + 16 * s)));
        finish(remove_offset(sum, u.pair_scale, b), d, b.d, sb, y + t * ldy);
    }
}

// Q4_K and Q5_K strip super-block (kernels/repack.h): d, dmin, then per sub-block j each row's
// scale with its min's top two bits, then the mins' low nibbles, then 32 groups of 16 rows x 4
// bytes of levels' low four bits; Q5_K then has 8 groups of their fifth bits.
constexpr size_t kK4Scales = 64, kK4Mins = 192, kK4Levels = 256, kQ5KHigh = 2304;
template <bool kQ5>
constexpr size_t kSuperBytesK4 = kStripRows * (kQ5 ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K));

// Sub-block j: sc[j] has row r's scale in lane r, mins[j] row r's min in both 16-bit halves of
// lane r (for dpwssd against a pair of activation group sums).
struct ScalesMins {
    __m512i sc[8];
    __m512i mins[8];
};

inline void load_scales_mins(const uint8_t* p, ScalesMins& s) {
    for (size_t j = 0; j < 8; ++j) {
        const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kK4Scales + 16 * j)));
        const __m512i nib = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kK4Mins + 16 * (j / 2))));
        const __m512i low = j % 2 == 0 ? _mm512_and_si512(nib, _mm512_set1_epi32(15)) : _mm512_srli_epi32(nib, 4);
        const __m512i m = _mm512_or_si512(low, _mm512_slli_epi32(_mm512_srli_epi32(sc, 6), 4));
        s.sc[j] = _mm512_and_si512(sc, _mm512_set1_epi32(63));
        s.mins[j] = _mm512_or_si512(m, _mm512_slli_epi32(m, 16));
    }
}

// Group g's levels: its bytes' low nibbles (sub-block 2c, c = g / 8, elements 4 * (g % 8) ..
// + 3 of it) and high nibbles (the same elements of sub-block 2c + 1); for Q5_K with the
// fifth bit, bit 2c (and 2c + 1) of the group's qh bytes, as bit 4.
template <bool kQ5>
inline void k4_levels(const uint8_t* p, size_t g, __m512i& low, __m512i& high) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i z = _mm512_loadu_si512(p + kK4Levels + 64 * g);
    if constexpr (kQ5) {
        // Bit j of each qh byte to bit 4, by an affine byte map (byte 3 of the matrix picks the
        // input bits of output bit 4), then (nibble & 15) | that in one ternary op.
        constexpr int kAndOr = 0xEA;  // (a & b) | c
        const __m512i h = _mm512_loadu_si512(p + kQ5KHigh + 64 * (g % 8));
        const auto j = static_cast<unsigned>(2 * (g / 8));
        const __m512i bit_low = _mm512_gf2p8affine_epi64_epi8(h, _mm512_set1_epi64(static_cast<long long>(1ull << (24 + j))), 0);
        const __m512i bit_high = _mm512_gf2p8affine_epi64_epi8(h, _mm512_set1_epi64(static_cast<long long>(1ull << (25 + j))), 0);
        low = _mm512_ternarylogic_epi32(z, low4, bit_low, kAndOr);
        high = _mm512_ternarylogic_epi32(_mm512_srli_epi16(z, 4), low4, bit_high, kAndOr);
    } else {
        low = _mm512_and_si512(z, low4);
        high = _mm512_and_si512(_mm512_srli_epi16(z, 4), low4);
    }
}

// y = activation scale * (d * sumi - dmin * summ), plus y unless sb is the first super-block.
inline void k4_finish(__m512i sumi, const __m512i mins[8], __m512 d, __m512 dmin, const BlockQ8_K& b, size_t sb, float* y) {
    __m512i summ = _mm512_setzero_si512();
    for (size_t j = 0; j < 8; ++j) summ = _mm512_dpwssd_epi32(summ, mins[j], broadcast4(b.bsums + 2 * j));
    const __m512 prev = sb == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(y);
    const __m512 inner = _mm512_fmsub_ps(d, _mm512_cvtepi32_ps(sumi), _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(summ)));
    _mm512_storeu_ps(y, _mm512_fmadd_ps(_mm512_set1_ps(b.d), inner, prev));
}

// Levels (8 groups each) of sub-blocks 2c and 2c + 1 against one token: sumi's share.
template <class Levels8>
inline __m512i k4_chunk_sum(const Levels8& low, const Levels8& high, const ScalesMins& s, size_t c, const int8_t* x) {
    __m512i i0 = _mm512_setzero_si512(), i1 = _mm512_setzero_si512();
    for (size_t k = 0; k < 8; ++k) {
        i0 = _mm512_dpbusd_epi32(i0, low[k], broadcast4(x + 64 * c + 4 * k));
        i1 = _mm512_dpbusd_epi32(i1, high[k], broadcast4(x + 64 * c + 32 + 4 * k));
    }
    return _mm512_add_epi32(_mm512_mullo_epi32(s.sc[2 * c], i0), _mm512_mullo_epi32(s.sc[2 * c + 1], i1));
}

template <bool kQ5>
void k4_super_block_direct(const uint8_t* p, const uint8_t* x, size_t sb, float* y) {
    prefetch_ahead(p, kSuperBytesK4<kQ5>, kPrefetchFar, kPrefetchNear);
    const BlockQ8_K& b = reinterpret_cast<const BlockQ8_K*>(x)[sb];
    ScalesMins s;
    load_scales_mins(p, s);
    __m512i sumi = _mm512_setzero_si512();
    for (size_t c = 0; c < 4; ++c) {
        __m512i low[8], high[8];
        for (size_t k = 0; k < 8; ++k) k4_levels<kQ5>(p, 8 * c + k, low[k], high[k]);
        sumi = _mm512_add_epi32(sumi, k4_chunk_sum(low, high, s, c, b.qs));
    }
    k4_finish(sumi, s.mins, load_d(p), load_d(p + 32), b, sb, y);
}

struct alignas(64) K4Levels {
    __m512i low[32], high[32];  // by group
    ScalesMins s;
};

template <bool kQ5>
void k4_unpack(const uint8_t* p, K4Levels& u) {
    prefetch_ahead(p, kSuperBytesK4<kQ5>, kPrefetchFar, kPrefetchNear);
    load_scales_mins(p, u.s);
    for (size_t g = 0; g < 32; ++g) k4_levels<kQ5>(p, g, u.low[g], u.high[g]);
}

void k4_super_block_vnni(const K4Levels& u, const uint8_t* p, const uint8_t* x, size_t x_stride, size_t n_tokens, size_t sb,
                         float* y, size_t ldy) {
    const __m512 d = load_d(p), dmin = load_d(p + 32);
    for (size_t t = 0; t < n_tokens; ++t) {
        const BlockQ8_K& b = reinterpret_cast<const BlockQ8_K*>(x + t * x_stride)[sb];
        __m512i sumi = _mm512_setzero_si512();
        for (size_t c = 0; c < 4; ++c) sumi = _mm512_add_epi32(sumi, k4_chunk_sum(u.low + 8 * c, u.high + 8 * c, u.s, c, b.qs));
        k4_finish(sumi, u.s.mins, d, dmin, b, sb, y + t * ldy);
    }
}

// Four or more tokens: the super-block's weights as two byte planes, each [16 * chunk +
// tile row] an AMX B tile row for 64 elements (byte 4r + i of tile row k: element 64 * chunk
// + 4k + i of row r).
struct alignas(64) Planes {
    __m512i hi[64];
    __m512i lo[64];
};

// Sub-block s's weights scale * (level - 32) into the planes. Bytes are multiplied in 16-bit
// words, even and odd bytes apart (maddubs against the scale with the other byte zeroed);
// the two results' low bytes merge into lo and their high bytes into hi.
inline void split_sub_block(const uint8_t* p, size_t s, Planes& u) {
    const __m512i to_lanes = _mm512_set_epi64(0x1f1f1f1f1d1d1d1d, 0x1b1b1b1b19191919, 0x1717171715151515, 0x1313131311111111,
                                              0x0f0f0f0f0d0d0d0d, 0x0b0b0b0b09090909, 0x0707070705050505, 0x0303030301010101);
    const __m512i low_byte = _mm512_set1_epi16(0x00FF);
    constexpr int kLowFromA = 0xE4;  // (a & c) | (b & ~c)
    // Byte 4r + i of `scale`: row r's scale of sub-block s (pair s / 2 holds it at byte 2r + s % 2).
    const __m512i pair = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 + 32 * (s / 2))));
    const __m512i scale = _mm512_permutexvar_epi8(_mm512_sub_epi8(to_lanes, _mm512_set1_epi8(static_cast<char>(1 - s % 2))), pair);
    const __m512i scale_even = _mm512_and_si512(scale, low_byte), scale_odd = _mm512_andnot_si512(low_byte, scale);
    const __m512i offset = _mm512_srai_epi16(_mm512_slli_epi16(scale, 8), 3);  // 32 * scale in each word
    __m512i levels[4];
    unpack_levels(p, s, levels);
    for (size_t g = 0; g < 4; ++g) {
        const __m512i even = _mm512_sub_epi16(_mm512_maddubs_epi16(levels[g], scale_even), offset);
        const __m512i odd = _mm512_sub_epi16(_mm512_maddubs_epi16(levels[g], scale_odd), offset);
        u.lo[4 * s + g] = _mm512_ternarylogic_epi32(even, _mm512_slli_epi16(odd, 8), low_byte, kLowFromA);
        u.hi[4 * s + g] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(even, 8), odd, low_byte, kLowFromA);
    }
}

// Q4_K, Q5_K: sub-blocks 2c and 2c + 1 (chunk c) as weights scale * level into the planes,
// the same way (levels 0..15 or 0..31 times scales 0..63: hi is 0..3 or 0..7).
template <bool kQ5>
inline void k4_split_chunk(const uint8_t* p, const ScalesMins& s, size_t c, Planes& u) {
    const __m512i low_byte = _mm512_set1_epi16(0x00FF);
    constexpr int kLowFromA = 0xE4;  // (a & c) | (b & ~c)
    __m512i scale_even[2], scale_odd[2];
    for (size_t half = 0; half < 2; ++half) {
        // Byte 4r + i: row r's scale of sub-block 2c + half.
        const __m512i scale = _mm512_mullo_epi32(s.sc[2 * c + half], _mm512_set1_epi32(0x01010101));
        scale_even[half] = _mm512_and_si512(scale, low_byte);
        scale_odd[half] = _mm512_andnot_si512(low_byte, scale);
    }
    for (size_t k = 0; k < 8; ++k) {
        __m512i levels[2];
        k4_levels<kQ5>(p, 8 * c + k, levels[0], levels[1]);
        for (size_t half = 0; half < 2; ++half) {
            const __m512i even = _mm512_maddubs_epi16(levels[half], scale_even[half]);
            const __m512i odd = _mm512_maddubs_epi16(levels[half], scale_odd[half]);
            u.lo[16 * c + 8 * half + k] = _mm512_ternarylogic_epi32(even, _mm512_slli_epi16(odd, 8), low_byte, kLowFromA);
            u.hi[16 * c + 8 * half + k] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(even, 8), odd, low_byte, kLowFromA);
        }
    }
}

// Tiles: 0 and 1 the sums of hi and lo (tokens x 16 int32), 2 the activations (tokens x 64
// bytes), 3 and 4 the planes (16 rows x 64 bytes); 5, 6 and 7 repeat 0, 1 and 2 for the
// call's last, shorter group of tokens.
void configure(size_t tokens, size_t last) {
    TileConfig c;
    for (int set = 0; set < 2; ++set) {
        const auto rows = static_cast<uint8_t>(set == 0 ? tokens : last);
        if (rows == 0) continue;
        for (int t : {0, 1, 2}) c.rows[t + 5 * set] = rows, c.colsb[t + 5 * set] = 64;
    }
    for (int t : {3, 4}) c.rows[t] = 16, c.colsb[t] = 64;
    load_tile_config(c);
}

// The whole super-block's integer sums for a group of tokens: tiles HI and LO, activations in
// tile X (tile numbers must be literals in the AMX intrinsics, hence a macro). hi is signed
// (Q4_K's 0..3 reads the same either way), lo unsigned.
#define KILN_PLANE_TILE_SUMS(HI, LO, X)                             \
    do {                                                            \
        _tile_zero(HI);                                             \
        _tile_zero(LO);                                             \
        for (size_t c = 0; c < 4; ++c) {                            \
            _tile_loadd(X, a + 64 * c, static_cast<long>(x_stride)); \
            _tile_loadd(3, u.hi + 16 * c, 64);                      \
            _tile_loadd(4, u.lo + 16 * c, 64);                      \
            _tile_dpbssd(HI, X, 3);                                 \
            _tile_dpbsud(LO, X, 4);                                 \
        }                                                           \
        _tile_stored(HI, sums_hi, 64);                              \
        _tile_stored(LO, sums_lo, 64);                              \
    } while (0)

// n_tokens tokens (the call's last group when `last`) against the super-block, then the
// float step: finish(sum, token's activation block, sb, y).
template <class Finish>
void super_block_amx(const Planes& u, const Finish& finish, const uint8_t* x, size_t x_stride, size_t n_tokens, bool last,
                     size_t sb, float* y, size_t ldy) {
    const uint8_t* a = x + sb * sizeof(BlockQ8_K) + offsetof(BlockQ8_K, qs);
    alignas(64) int32_t sums_hi[kAmxTokens * 16], sums_lo[kAmxTokens * 16];
    if (last) KILN_PLANE_TILE_SUMS(5, 6, 7);
    else KILN_PLANE_TILE_SUMS(0, 1, 2);
    for (size_t t = 0; t < n_tokens; ++t) {
        const __m512i hi = _mm512_load_si512(sums_hi + 16 * t), lo = _mm512_load_si512(sums_lo + 16 * t);
        const __m512i sum = _mm512_add_epi32(_mm512_slli_epi32(hi, 8), lo);
        finish(sum, reinterpret_cast<const BlockQ8_K*>(x + t * x_stride)[sb], sb, y + t * ldy);
    }
}

#undef KILN_PLANE_TILE_SUMS

// What the strip driver below needs of each type. Finish holds a super-block's scales for the
// float step (K4's split reads its scales from there too).
struct Q6K {
    static constexpr size_t kBytes = kSuperBytes;
    using Unpacked = Levels;
    static void direct(const uint8_t* p, const uint8_t* x, size_t sb, float* y) { super_block_direct(p, x, sb, y); }
    static void unpack(const uint8_t* p, Unpacked& u) { kiln::unpack(p, u); }
    static void vnni(const Unpacked& u, const uint8_t* p, const uint8_t* x, size_t x_stride, size_t n_tokens, size_t sb, float* y,
                     size_t ldy) {
        super_block_vnni(u, load_d(p), x, x_stride, n_tokens, sb, y, ldy);
    }
    struct Finish;
    static void split(const uint8_t* p, const Finish&, Planes& u) {
        for (size_t s = 0; s < 16; ++s) {
            // Spread over the sub-blocks: a burst of a whole super-block's prefetches stalls.
            prefetch_ahead(p + s * (kSuperBytes / 16), kSuperBytes / 16, kPrefetchFar, kPrefetchNear);
            split_sub_block(p, s, u);
        }
    }
    struct Finish {
        explicit Finish(const uint8_t* p) : d(load_d(p)) {}
        void operator()(__m512i sum, const BlockQ8_K& b, size_t sb, float* y) const { finish(sum, d, b.d, sb, y); }
        __m512 d;
    };
};

template <bool kQ5>
struct K4 {
    static constexpr size_t kBytes = kSuperBytesK4<kQ5>;
    using Unpacked = K4Levels;
    static void direct(const uint8_t* p, const uint8_t* x, size_t sb, float* y) { k4_super_block_direct<kQ5>(p, x, sb, y); }
    static void unpack(const uint8_t* p, Unpacked& u) { k4_unpack<kQ5>(p, u); }
    static void vnni(const Unpacked& u, const uint8_t* p, const uint8_t* x, size_t x_stride, size_t n_tokens, size_t sb, float* y,
                     size_t ldy) {
        k4_super_block_vnni(u, p, x, x_stride, n_tokens, sb, y, ldy);
    }
    struct Finish;
    static void split(const uint8_t* p, const Finish& f, Planes& u) {
        for (size_t c = 0; c < 4; ++c) {
            prefetch_ahead(p + c * (kBytes / 4), kBytes / 4, kPrefetchFar, kPrefetchNear);
            k4_split_chunk<kQ5>(p, f.s, c, u);
        }
    }
    struct Finish {
        explicit Finish(const uint8_t* p) : d(load_d(p)), dmin(load_d(p + 32)) { load_scales_mins(p, s); }
        void operator()(__m512i sum, const BlockQ8_K& b, size_t sb, float* y) const { k4_finish(sum, s.mins, d, dmin, b, sb, y); }
        __m512 d, dmin;
        ScalesMins s;
    };
};

// Whole strips of 16 rows (n_rows a multiple of 16), one after another.
template <class K>
void tile_k_strips(KILN_MATMUL_TILE_ARGS) {
    const size_t n_super = n / QK_K, strip_bytes = kStripRows * row_bytes;
    const size_t full = std::min(kAmxTokens, n_tokens), last = n_tokens % kAmxTokens;
    if (n_tokens >= kAmxMin) configure(full, n_tokens > kAmxTokens ? last : 0);
    for (size_t r = 0; r < n_rows; r += kStripRows, w += strip_bytes, y += kStripRows) {
        if (n_tokens == 1) {
            for (size_t sb = 0; sb < n_super; ++sb) K::direct(w + sb * K::kBytes, x, sb, y);
            continue;
        }
        if (n_tokens < kAmxMin) {
            typename K::Unpacked u;
            for (size_t sb = 0; sb < n_super; ++sb) {
                const uint8_t* p = w + sb * K::kBytes;
                K::unpack(p, u);
                K::vnni(u, p, x, x_stride, n_tokens, sb, y, ldy);
            }
            continue;
        }
        Planes u;
        for (size_t sb = 0; sb < n_super; ++sb) {
            const uint8_t* p = w + sb * K::kBytes;
            const typename K::Finish finish(p);
            K::split(p, finish, u);
            size_t t = 0;
            for (; t < n_tokens; t += full) {
                const size_t group = std::min(full, n_tokens - t);
                super_block_amx(u, finish, x + t * x_stride, x_stride, group, group < full, sb, y + t * ldy, ldy);
            }
        }
    }
}

}  // namespace

void matmul_tile_q6_k_strips_amx(KILN_MATMUL_TILE_ARGS) { tile_k_strips<Q6K>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy); }
void matmul_tile_q4_k_strips_amx(KILN_MATMUL_TILE_ARGS) {
    tile_k_strips<K4<false>>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy);
}
void matmul_tile_q5_k_strips_amx(KILN_MATMUL_TILE_ARGS) {
    tile_k_strips<K4<true>>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy);
}

KILN_END_TARGET

}  // namespace kiln
