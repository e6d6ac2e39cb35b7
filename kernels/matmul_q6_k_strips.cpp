// Q6_K weights in strips of 16 rows (kernels/repack.h) against Q8_K activations, on AVX-512
// VNNI with the strip's 16 rows in the 16 lanes of a vector. A super-block is unpacked once
// (levels 0..63, each sub-block's scale) and then serves every token: per group of four
// elements, the byte products summed in pairs (maddubs) times the sub-block's scale (dpwssd)
// add up to each row's exact integer sum, the -32 offset coming out through the activations'
// group sums; that sum meets d and the activation scale in float, super-block after
// super-block. Every (row, token) runs the same arithmetic whatever the number of tokens, so
// batching cannot change a result; it differs from the row kernels' only in float rounding.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "kernels/matmul_kernels.h"
#include "kernels/quants.h"
#include "kernels/repack.h"

namespace kiln {

// GCC's own intrinsic headers trip these in target regions.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,gfni")

namespace {

constexpr size_t kSuperBytes = kStripRows * sizeof(BlockQ6_K);
constexpr size_t kMaxTokens = 4;  // tokens per pass over an unpacked super-block
constexpr size_t kPrefetchFar = 24576, kPrefetchNear = 2048;

// One strip's super-block, unpacked for the token loop.
struct alignas(64) Unpacked {
    __m512i levels[64];     // [4 * sub-block + group]: byte 4r + i = level 4 * group + i of row r
    __m512i scale[16];      // sub-block s: row r's scale in both 16-bit halves of lane r
    __m512i pair_scale[8];  // pair p: row r's scales of sub-blocks 2p and 2p + 1 in lane r
    __m512 d;
};

inline void prefetch_super_block(const uint8_t* p) {
    for (size_t off = 0; off < kSuperBytes; off += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(p) + kPrefetchFar + off, _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(p) + kPrefetchNear + off, _MM_HINT_T0);
    }
}

// Scale pair q of a super-block: (scale 2q, scale 2q + 1) per lane, and each alone in both
// halves of its lane (byte shuffles within 128-bit lanes).
inline void unpack_scales(const uint8_t* p, size_t q, __m512i& pair, __m512i& even, __m512i& odd) {
    const __m512i low_words = _mm512_set_epi64(0x0D0C0D0C09080908, 0x0504050401000100, 0x0D0C0D0C09080908, 0x0504050401000100,
                                               0x0D0C0D0C09080908, 0x0504050401000100, 0x0D0C0D0C09080908, 0x0504050401000100);
    const __m512i high_words = _mm512_set_epi64(0x0F0E0F0E0B0A0B0A, 0x0706070603020302, 0x0F0E0F0E0B0A0B0A, 0x0706070603020302,
                                                0x0F0E0F0E0B0A0B0A, 0x0706070603020302, 0x0F0E0F0E0B0A0B0A, 0x0706070603020302);
    pair = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 + 32 * q)));
    even = _mm512_shuffle_epi8(pair, low_words);
    odd = _mm512_shuffle_epi8(pair, high_words);
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

// y += (d * activation scale) * (sum - 32 * sum over sub-blocks of scale * group sum), or
// y = that for the first super-block.
inline void finish(__m512i sum, const __m512i pair_scale[8], __m512 d, const BlockQ8_K& b, size_t sb, float* y) {
    __m512i corr = _mm512_setzero_si512();
    for (size_t q = 0; q < 8; ++q) corr = _mm512_dpwssd_epi32(corr, pair_scale[q], broadcast4(b.bsums + 2 * q));
    sum = _mm512_sub_epi32(sum, _mm512_slli_epi32(corr, 5));
    const __m512 prev = sb == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(y);
    _mm512_storeu_ps(y, _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(b.d)), _mm512_cvtepi32_ps(sum), prev));
}

inline __m512i products(__m512i levels, const int8_t* x) {
    return _mm512_maddubs_epi16(levels, broadcast4(x));
}

// T tokens against super-block `sb` of the strip. Fewer tokens split each sum over more
// accumulators, so that one token is not held up by the dpwssd latency; integer sums come
// out the same either way.
template <size_t T>
void super_block(const Unpacked& u, const uint8_t* x, size_t x_stride, size_t sb, float* y, size_t ldy) {
    constexpr size_t kAcc = T <= 2 ? 4 : 2;
    const BlockQ8_K* b[T];
    for (size_t t = 0; t < T; ++t) b[t] = reinterpret_cast<const BlockQ8_K*>(x + t * x_stride) + sb;
    __m512i acc[kAcc][T];
    for (size_t a = 0; a < kAcc; ++a)
        for (size_t t = 0; t < T; ++t) acc[a][t] = _mm512_setzero_si512();
    for (size_t s = 0; s < 16; ++s)
        for (size_t g = 0; g < 4; ++g)
            for (size_t t = 0; t < T; ++t)
                acc[g % kAcc][t] = _mm512_dpwssd_epi32(acc[g % kAcc][t], products(u.levels[4 * s + g], b[t]->qs + 16 * s + 4 * g),
                                                       u.scale[s]);
    for (size_t t = 0; t < T; ++t) {
        __m512i sum = acc[0][t];
        for (size_t a = 1; a < kAcc; ++a) sum = _mm512_add_epi32(sum, acc[a][t]);
        finish(sum, u.pair_scale, u.d, *b[t], sb, y + t * ldy);
    }
}

// One token straight from the strip, the levels never stored: the sums of super_block<1>.
void super_block_direct(const uint8_t* p, const uint8_t* x, size_t sb, float* y) {
    prefetch_super_block(p);
    const BlockQ8_K& b = reinterpret_cast<const BlockQ8_K*>(x)[sb];
    __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    __m512i pair[8];
    for (size_t q = 0; q < 8; ++q) {
        __m512i scale[2];
        unpack_scales(p, q, pair[q], scale[0], scale[1]);
        for (size_t h = 0; h < 2; ++h) {
            const size_t s = 2 * q + h;
            __m512i levels[4];
            unpack_levels(p, s, levels);
            for (size_t g = 0; g < 4; ++g)
                acc[g] = _mm512_dpwssd_epi32(acc[g], products(levels[g], b.qs + 16 * s + 4 * g), scale[h]);
        }
    }
    const __m512i sum = _mm512_add_epi32(_mm512_add_epi32(acc[0], acc[1]), _mm512_add_epi32(acc[2], acc[3]));
    finish(sum, pair, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), b, sb, y);
}

using SuperBlockFn = void (*)(const Unpacked&, const uint8_t*, size_t, size_t, float*, size_t);

template <size_t... T>
constexpr std::array<SuperBlockFn, sizeof...(T)> super_blocks(std::index_sequence<T...>) {
    return {super_block<T + 1>...};
}

}  // namespace

// One strip of 16 rows (strips16 matrices have whole strips).
void matmul_tile_q6_k_strips_avx512(KILN_MATMUL_TILE_ARGS) {
    (void)row_bytes, (void)n_rows;
    static constexpr auto groups = super_blocks(std::make_index_sequence<kMaxTokens>());
    if (n_tokens == 1) {
        for (size_t sb = 0; sb < n / QK_K; ++sb) super_block_direct(w + sb * kSuperBytes, x, sb, y);
        return;
    }
    Unpacked u;
    for (size_t sb = 0; sb < n / QK_K; ++sb) {
        unpack(w + sb * kSuperBytes, u);
        for (size_t t = 0; t < n_tokens; t += kMaxTokens) {
            const size_t tg = std::min(kMaxTokens, n_tokens - t);
            groups[tg - 1](u, x + t * x_stride, x_stride, sb, y + t * ldy, ldy);
        }
    }
}

#pragma GCC pop_options

}  // namespace kiln
