// Q6_K weights in strips of 16 rows (kernels/repack.h) against Q8_K activations, with the
// strip's 16 rows in the 16 lanes of a vector. A super-block is unpacked once (levels 0..63,
// scales) and then serves every token. Per 16-element sub-block, the exact integer sum of
// levels times activations comes from four VNNI dot products (one to three tokens) or from one
// AMX tile product (four to sixteen); it is scaled by the sub-block's scale in float, sub-block
// after sub-block; the -32 offset comes out through the activations' group sums, and d and the
// activation scale apply once per super-block. Both ways run the same float steps per (row,
// token), so batching cannot change a result; they differ from the row kernels' only in
// rounding.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <utility>

#include "kernels/matmul_kernels.h"
#include "kernels/quants.h"
#include "kernels/repack.h"
#include "kernels/strip_kernels.h"

namespace kiln {

// GCC's own intrinsic headers trip these in target regions.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,gfni,amx-tile,amx-int8")

namespace {

constexpr size_t kSuperBytes = kStripRows * sizeof(BlockQ6_K);
constexpr size_t kAmxMin = 4, kAmxTokens = 16;  // token groups that take tile products
constexpr size_t kPrefetchFar = 24576, kPrefetchNear = 2048;

// One strip's super-block, unpacked for the token loop.
struct alignas(64) Unpacked {
    __m512i levels[64];     // [4 * sub-block + group]: byte 4r + i = level 4 * group + i of row r
                            // (so sub-block s, 256 bytes, is also an AMX B tile of 4 x 64)
    __m512 scale[16];       // sub-block s: row r's scale in lane r
    __m512i pair_scale[8];  // pair p: row r's scales of sub-blocks 2p and 2p + 1 in lane r
    __m512 d;
};

inline void prefetch_super_block(const uint8_t* p) { prefetch_ahead(p, kSuperBytes, kPrefetchFar, kPrefetchNear); }

// Scale pair q of a super-block: (scale 2q, scale 2q + 1) as the 16-bit halves of each lane,
// and each as floats.
inline void unpack_scales(const uint8_t* p, size_t q, __m512i& pair, __m512& even, __m512& odd) {
    pair = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 + 32 * q)));
    even = _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(pair, 16), 16));
    odd = _mm512_cvtepi32_ps(_mm512_srai_epi32(pair, 16));
}

// The four groups of levels (0..63) of sub-block s. A group's top two bits (bits 2g, 2g + 1
// of H) go to bits 4 and 5, all else zero, by an affine byte map (output bit i takes the
// input bits that byte 7 - i of the matrix selects); a ternary op merges them with the nibble.
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

void unpack(const uint8_t* p, Unpacked& u) {
    prefetch_super_block(p);
    u.d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    for (size_t q = 0; q < 8; ++q) unpack_scales(p, q, u.pair_scale[q], u.scale[2 * q], u.scale[2 * q + 1]);
    for (size_t s = 0; s < 16; ++s) unpack_levels(p, s, u.levels + 4 * s);
}

inline __m512i broadcast4(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// y += (d * activation scale) * (f - 32 * sum over sub-blocks of scale * group sum), where f
// is the scaled sub-block sums, or y = that for the first super-block.
inline void finish(__m512 f, const __m512i pair_scale[8], __m512 d, const BlockQ8_K& b, size_t sb, float* y) {
    __m512i corr = _mm512_setzero_si512();
    for (size_t q = 0; q < 8; ++q) corr = _mm512_dpwssd_epi32(corr, pair_scale[q], broadcast4(b.bsums + 2 * q));
    f = _mm512_fnmadd_ps(_mm512_set1_ps(32.0f), _mm512_cvtepi32_ps(corr), f);  // exact product, one rounding
    const __m512 prev = sb == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(y);
    _mm512_storeu_ps(y, _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(b.d)), f, prev));
}

// The integer sum of sub-block s's levels (four groups) times token x's activations.
inline __m512i sub_block_sum(const __m512i levels[4], const int8_t* x) {
    __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), levels[0], broadcast4(x));
    for (size_t g = 1; g < 4; ++g) c = _mm512_dpbusd_epi32(c, levels[g], broadcast4(x + 4 * g));
    return c;
}

// T tokens (1..3 here) against super-block `sb` of the strip, by VNNI.
template <size_t T>
void super_block(const Unpacked& u, const uint8_t* x, size_t x_stride, size_t sb, float* y, size_t ldy) {
    const BlockQ8_K* b[T];
    for (size_t t = 0; t < T; ++t) b[t] = reinterpret_cast<const BlockQ8_K*>(x + t * x_stride) + sb;
    __m512 f[T];
    for (size_t t = 0; t < T; ++t) f[t] = _mm512_setzero_ps();
    for (size_t s = 0; s < 16; ++s)
        for (size_t t = 0; t < T; ++t)
            f[t] = _mm512_fmadd_ps(u.scale[s], _mm512_cvtepi32_ps(sub_block_sum(u.levels + 4 * s, b[t]->qs + 16 * s)), f[t]);
    for (size_t t = 0; t < T; ++t) finish(f[t], u.pair_scale, u.d, *b[t], sb, y + t * ldy);
}

// T tokens (4..16) against super-block `sb`: per sub-block, one tile product (signed
// activations, unsigned levels) gives the sums for 16 rows x T tokens, then the float steps
// of super_block.
template <size_t T>
void super_block_amx(const Unpacked& u, const uint8_t* x, size_t x_stride, size_t sb, float* y, size_t ldy) {
    const uint8_t* a = x + sb * sizeof(BlockQ8_K) + offsetof(BlockQ8_K, qs);
    const auto stride = static_cast<long>(x_stride);
    alignas(64) int32_t c[2][kAmxTokens * 16];
    __m512 f[T];
#pragma GCC unroll 16
    for (size_t t = 0; t < T; ++t) f[t] = _mm512_setzero_ps();
    const auto scale = [&](size_t s, const int32_t* sums) {
#pragma GCC unroll 16
        for (size_t t = 0; t < T; ++t) f[t] = _mm512_fmadd_ps(u.scale[s], _mm512_cvtepi32_ps(_mm512_load_si512(sums + 16 * t)), f[t]);
    };
    for (size_t s = 0; s < 16; s += 2) {
        _tile_loadd(1, a + 16 * s, stride);
        _tile_loadd(2, u.levels + 4 * s, 64);
        _tile_loadd(4, a + 16 * (s + 1), stride);
        _tile_loadd(5, u.levels + 4 * (s + 1), 64);
        _tile_zero(0);
        _tile_zero(3);
        _tile_dpbsud(0, 1, 2);
        _tile_dpbsud(3, 4, 5);
        _tile_stored(0, c[0], 64);
        _tile_stored(3, c[1], 64);
        scale(s, c[0]);
        scale(s + 1, c[1]);
    }
#pragma GCC unroll 16
    for (size_t t = 0; t < T; ++t)
        finish(f[t], u.pair_scale, u.d, reinterpret_cast<const BlockQ8_K*>(x + t * x_stride)[sb], sb, y + t * ldy);
}

// One token straight from the strip, the levels never stored: the steps of super_block<1>.
void super_block_direct(const uint8_t* p, const uint8_t* x, size_t sb, float* y) {
    prefetch_super_block(p);
    const BlockQ8_K& b = reinterpret_cast<const BlockQ8_K*>(x)[sb];
    __m512 f = _mm512_setzero_ps();
    __m512i pair[8];
    for (size_t q = 0; q < 8; ++q) {
        __m512 scale[2];
        unpack_scales(p, q, pair[q], scale[0], scale[1]);
        for (size_t h = 0; h < 2; ++h) {
            const size_t s = 2 * q + h;
            __m512i levels[4];
            unpack_levels(p, s, levels);
            f = _mm512_fmadd_ps(scale[h], _mm512_cvtepi32_ps(sub_block_sum(levels, b.qs + 16 * s)), f);
        }
    }
    finish(f, pair, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), b, sb, y);
}

using SuperBlockFn = void (*)(const Unpacked&, const uint8_t*, size_t, size_t, float*, size_t);

template <size_t... T>
constexpr std::array<SuperBlockFn, sizeof...(T)> super_blocks(std::index_sequence<T...>) {
    return {super_block<T + 1>...};
}

template <size_t... T>
constexpr std::array<SuperBlockFn, sizeof...(T)> super_blocks_amx(std::index_sequence<T...>) {
    return {super_block_amx<T + kAmxMin>...};
}

}  // namespace

// One strip of 16 rows (strips16 matrices have whole strips).
void matmul_tile_q6_k_strips_amx(KILN_MATMUL_TILE_ARGS) {
    (void)row_bytes, (void)n_rows;
    static constexpr auto groups = super_blocks(std::make_index_sequence<kAmxMin - 1>());
    static constexpr auto amx_groups = super_blocks_amx(std::make_index_sequence<kAmxTokens - kAmxMin + 1>());
    if (n_tokens == 1) {
        for (size_t sb = 0; sb < n / QK_K; ++sb) super_block_direct(w + sb * kSuperBytes, x, sb, y);
        return;
    }
    Unpacked u;
    size_t configured = 0;
    for (size_t sb = 0; sb < n / QK_K; ++sb) {
        unpack(w + sb * kSuperBytes, u);
        for (size_t t = 0; t < n_tokens;) {
            const size_t tg = std::min(kAmxTokens, n_tokens - t);
            if (tg >= kAmxMin) {
                if (tg != configured) configure_tiles(configured = tg, 16);  // a sub-block's activations
                amx_groups[tg - kAmxMin](u, x + t * x_stride, x_stride, sb, y + t * ldy, ldy);
            } else {
                groups[tg - 1](u, x + t * x_stride, x_stride, sb, y + t * ldy, ldy);
            }
            t += tg;
        }
    }
}

#pragma GCC pop_options

}  // namespace kiln
