// Q8_0 and Q4_0 weights in strips of 16 rows (kernels/repack.h) against Q8_0 activations in
// tiles (ActLayout::tiles16), for the `amx` level. Per 32-element block, the exact integer dot
// products of the 16 rows with each token come from one AMX tile product (A = up to 16
// tokens' levels, one contiguous tile; B = the strip's levels, as repacked; C = tokens x 16
// int32) or, for one to three tokens, from VNNI dot products; then each block's scales apply
// in float and blocks add up in order. Both ways give the same sums and the same float steps,
// so a token's result never depends on its batch.
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <type_traits>
#include <cstring>
#include <utility>

#include "kernels/matmul_kernels.h"
#include "kernels/targets.h"
#include "kernels/quants.h"
#include "kernels/repack.h"
#include "kernels/strip_kernels.h"

namespace kiln {

bool amx_enable() {
    constexpr long kReqXcompPerm = 0x1023, kXfeatureTileData = 18;  // from <asm/prctl.h>
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureTileData) == 0;
}

// GCC's own intrinsic headers trip these in target regions.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

KILN_BEGIN_TARGET(KILN_TARGET_AMX)

namespace {

constexpr size_t kTokens = 16;    // tokens per tile product
constexpr size_t kChunk = 64;     // blocks unpacked at a time: 32 KiB of tiles
constexpr size_t kAmxTokens = 4;  // fewer tokens take VNNI dot products instead (the same sums)
constexpr size_t kPrefetchFar = 12288, kPrefetchNear = 1024;

// How a strip's block holds its levels (see kernels/repack.h). levels() gives the eight
// groups of four levels as unsigned bytes, `offset` more than the signed levels.
struct Q8_0Strip {
    using Block = BlockQ8_0;
    static constexpr int offset_shift = 7;  // 128
    static void levels(const uint8_t* q, __m512i g[8]) {
        for (int k = 0; k < 8; ++k)
            g[k] = _mm512_xor_si512(_mm512_loadu_si512(q + 64 * k), _mm512_set1_epi8(static_cast<char>(0x80)));
    }
};
struct Q4_0Strip {
    using Block = BlockQ4_0;
    static constexpr int offset_shift = 3;  // 8
    static void levels(const uint8_t* q, __m512i g[8]) {
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        for (int j = 0; j < 4; ++j) {
            const __m512i z = _mm512_loadu_si512(q + 64 * j);
            g[j] = _mm512_and_si512(z, low4);
            g[j + 4] = _mm512_and_si512(_mm512_srli_epi16(z, 4), low4);
        }
    }
    // The same levels minus 8, as signed bytes, in one affine byte map per group: for a
    // nibble b3b2b1b0, q - 8 is b2b1b0 with bits 3..7 all equal to not-b3. A matrix row
    // (byte 7 - i) picks the input bits that output bit i takes; 0xF8 flips bits 3..7.
    static void signed_levels(const uint8_t* q, __m512i g[8]) {
        const __m512i low = _mm512_set1_epi64(0x0102040808080808), high = _mm512_set1_epi64(0x1020408080808080);
        for (int j = 0; j < 4; ++j) {
            const __m512i z = _mm512_loadu_si512(q + 64 * j);
            g[j] = _mm512_gf2p8affine_epi64_epi8(z, low, 0xF8);
            g[j + 4] = _mm512_gf2p8affine_epi64_epi8(z, high, 0xF8);
        }
    }
};

inline __m512 strip_scales(const uint8_t* block) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block)));
}

// In a group of `group` tokens at x (ActLayout::tiles16): block b's levels of token t, and its
// scale.
constexpr size_t kLevels = sizeof(BlockQ8_0::qs);
inline const uint8_t* act_levels(const uint8_t* x, size_t group, size_t t, size_t b) { return x + (b * group + t) * kLevels; }
inline float act_scale(const uint8_t* x, size_t n_blocks, size_t group, size_t t, size_t b) {
    float s;
    std::memcpy(&s, x + n_blocks * group * kLevels + (b * group + t) * sizeof(float), sizeof s);
    return s;
}

// A few tokens (t0 .. t0 + T - 1 of a group of `group` at x): per block, the 16 rows' exact
// integer sums from VNNI dot products against each activation group broadcast, the offset
// taken out through the activations' sum.
template <class L, size_t T>
void strip_vnni(const uint8_t* w, size_t n_blocks, const uint8_t* x, size_t group, size_t t0, float* y, size_t ldy) {
    constexpr size_t kBytes = kStripRows * sizeof(typename L::Block);
    const __m512i ones = _mm512_set1_epi8(1);
    __m512 acc[T];
    for (size_t t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (size_t b = 0; b < n_blocks; ++b) {
        const uint8_t* s = w + b * kBytes;
        prefetch_ahead(s, kBytes, kPrefetchFar, kPrefetchNear);
        __m512i g[8];
        L::levels(s + 32, g);
        const __m512 dw = strip_scales(s);
        for (size_t t = 0; t < T; ++t) {
            const uint8_t* xq = act_levels(x, group, t0 + t, b);
            __m512i iw[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
            __m512i is[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
            for (int k = 0; k < 8; ++k) {
                int32_t four;
                std::memcpy(&four, xq + 4 * k, 4);
                const __m512i xk = _mm512_set1_epi32(four);
                iw[k & 1] = _mm512_dpbusd_epi32(iw[k & 1], g[k], xk);
                is[k & 1] = _mm512_dpbusd_epi32(is[k & 1], ones, xk);
            }
            const __m512i sum = _mm512_sub_epi32(_mm512_add_epi32(iw[0], iw[1]),
                                                 _mm512_slli_epi32(_mm512_add_epi32(is[0], is[1]), L::offset_shift));
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(act_scale(x, n_blocks, group, t0 + t, b))),
                                     _mm512_cvtepi32_ps(sum), acc[t]);
        }
    }
    for (size_t t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

// The signed levels of block b in tile order (512 bytes), for Q4_0 (Q8_0's are in memory).
template <class L>
[[gnu::always_inline]] inline void unpack_block(const uint8_t* w, size_t b, int8_t* tile) {
    constexpr size_t kBytes = kStripRows * sizeof(typename L::Block);
    const uint8_t* s = w + b * kBytes;
    prefetch_ahead(s, kBytes, kPrefetchFar, kPrefetchNear);
    __m512i g[8];
    L::signed_levels(s + 32, g);
    for (int k = 0; k < 8; ++k) _mm512_storeu_si512(tile + 64 * k, g[k]);
}

// acc[t] += the block's scales times its integer sums for token t. (A plain function: GCC
// keeps acc in memory when lambdas capture it.)
template <size_t T>
[[gnu::always_inline]] inline void scale_block(__m512* acc, const uint8_t* strip_block, const uint8_t* x, size_t n_blocks,
                                               size_t b, const int32_t* sums) {
    const __m512 dw = strip_scales(strip_block);
#pragma GCC unroll 16
    for (size_t t = 0; t < T; ++t)
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(act_scale(x, n_blocks, T, t, b))),
                                 _mm512_cvtepi32_ps(_mm512_load_si512(sums + 16 * t)), acc[t]);
}

// A ring of this many unpacked blocks, when one token group unpacks as it goes.
constexpr size_t kRing = 4;

// Two sets of tiles, so that one block's product runs while the other's sums are read out:
// tiles 0 and 3 hold sums (tokens x 16 int32), 1 and 4 activations (tokens x 32 bytes), 2 and
// 5 the strip's levels (8 rows of 64 bytes).
void configure_tiles(size_t tokens) {
    constexpr size_t kBytes = sizeof(BlockQ8_0::qs);
    TileConfig c;
    for (int set = 0; set < 6; set += 3) {
        c.rows[set] = static_cast<uint8_t>(tokens), c.colsb[set] = 64;
        c.rows[set + 1] = static_cast<uint8_t>(tokens), c.colsb[set + 1] = kBytes;
        c.rows[set + 2] = kBytes / 4, c.colsb[set + 2] = 64;
    }
    load_tile_config(c);
}

// A group of T tokens against blocks [b0, b0 + nb): one tile product per block, two blocks
// at a time on the two tile sets, then the scales in float, block after block. acc[t] holds
// the 16 rows' sums for token t, carried across chunks through y (a float stored and loaded
// again is unchanged). Every loop over acc is unrolled by pragma to keep it in registers.
// For Q4_0, `tiles` holds the chunk's blocks unpacked; with `ring` (a single token group) it
// is a ring of kRing blocks instead, each unpacked two blocks ahead while the tile unit works
// on the current pair.
template <class L, size_t T>
void strip_amx(const uint8_t* w, int8_t* tiles, bool ring, size_t n_blocks, size_t b0, size_t nb, const uint8_t* x, float* y,
               size_t ldy) {
    constexpr size_t kBytes = kStripRows * sizeof(typename L::Block);
    constexpr bool kDirect = std::is_same_v<L, Q8_0Strip>;  // Q8_0 levels are tile-ready in memory
    alignas(64) int32_t c[2][2][kTokens * 16];  // [pair parity][block of the pair]
    __m512 acc[T];
#pragma GCC unroll 16
    for (size_t t = 0; t < T; ++t) acc[t] = b0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(y + t * ldy);
    const auto a_tile = [&](size_t b) { return act_levels(x, T, 0, b0 + b); };
    const auto b_tile = [&](size_t b) -> const void* {
        if constexpr (kDirect) return w + (b0 + b) * kBytes + 32;
        else return tiles + (ring ? b % kRing : b) * 512;
    };
    const auto unpack_ahead = [&](size_t from, size_t to) {
        if constexpr (!kDirect)
            if (ring)
                for (size_t i = from; i < std::min(to, nb); ++i) unpack_block<L>(w, b0 + i, tiles + i % kRing * 512);
    };
    const auto stride = static_cast<long>(kLevels);
    // Software pipeline: the sums of a pair of blocks are stored while the next pair's
    // products run, and scaled one pair later, so no float step waits on a tile product.
    size_t b = 0;
    unpack_ahead(0, 2);
    for (; b + 2 <= nb; b += 2) {
        const size_t par = (b / 2) & 1;
        _tile_loadd(1, a_tile(b), stride);
        _tile_loadd(2, b_tile(b), 64);
        _tile_loadd(4, a_tile(b + 1), stride);
        _tile_loadd(5, b_tile(b + 1), 64);
        _tile_zero(0);
        _tile_zero(3);
        _tile_dpbssd(0, 1, 2);
        _tile_dpbssd(3, 4, 5);
        unpack_ahead(b + 2, b + 4);  // while the products run
        if (b >= 2) {
            scale_block<T>(acc, w + (b0 + b - 2) * kBytes, x, n_blocks, b0 + b - 2, c[par ^ 1][0]);
            scale_block<T>(acc, w + (b0 + b - 1) * kBytes, x, n_blocks, b0 + b - 1, c[par ^ 1][1]);
        }
        _tile_stored(0, c[par][0], 64);
        _tile_stored(3, c[par][1], 64);
    }
    if (b >= 2) {
        const size_t par = ((b - 2) / 2) & 1;
        scale_block<T>(acc, w + (b0 + b - 2) * kBytes, x, n_blocks, b0 + b - 2, c[par][0]);
        scale_block<T>(acc, w + (b0 + b - 1) * kBytes, x, n_blocks, b0 + b - 1, c[par][1]);
    }
    if (b < nb) {
        _tile_loadd(1, a_tile(b), stride);
        _tile_loadd(2, b_tile(b), 64);
        _tile_zero(0);
        _tile_dpbssd(0, 1, 2);
        _tile_stored(0, c[0][0], 64);
        scale_block<T>(acc, w + (b0 + b) * kBytes, x, n_blocks, b0 + b, c[0][0]);
    }
#pragma GCC unroll 16
    for (size_t t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

template <class L>
using AmxGroupFn = void (*)(const uint8_t*, int8_t*, bool, size_t, size_t, size_t, const uint8_t*, float*, size_t);

template <class L, size_t... T>
constexpr std::array<AmxGroupFn<L>, sizeof...(T)> amx_groups(std::index_sequence<T...>) {
    return {strip_amx<L, T + 1>...};
}

// Whole strips of 16 rows (n_rows a multiple of 16), one after another.
template <class L>
void tile_strips(KILN_MATMUL_TILE_ARGS) {
    const size_t n_blocks = n / 32, strip_bytes = kStripRows * row_bytes;
    if (n_tokens < kAmxTokens) {
        for (size_t r = 0; r < n_rows; r += kStripRows, w += strip_bytes, y += kStripRows)
            for (size_t t = 0; t < n_tokens; t += 2) {  // one group of n_tokens
                if (n_tokens - t >= 2) strip_vnni<L, 2>(w, n_blocks, x, n_tokens, t, y + t * ldy, ldy);
                else strip_vnni<L, 1>(w, n_blocks, x, n_tokens, t, y + t * ldy, ldy);
            }
        return;
    }
    static constexpr auto groups = amx_groups<L>(std::make_index_sequence<kTokens>());
    alignas(64) int8_t tiles[std::is_same_v<L, Q8_0Strip> ? 64 : kChunk * 512];
    // One token group unpacks as it goes (the unpacking then hides the products' latency);
    // several share a chunk unpacked up front.
    const bool ring = n_tokens <= kTokens;
    size_t configured = 0;
    for (size_t r = 0; r < n_rows; r += kStripRows, w += strip_bytes, y += kStripRows)
        for (size_t b0 = 0; b0 < n_blocks; b0 += kChunk) {
            const size_t nb = std::min(kChunk, n_blocks - b0);
            if constexpr (!std::is_same_v<L, Q8_0Strip>)
                if (!ring)
                    for (size_t b = 0; b < nb; ++b) unpack_block<L>(w, b0 + b, tiles + b * 512);
            for (size_t t0 = 0; t0 < n_tokens; t0 += kTokens) {
                const size_t tg = std::min(kTokens, n_tokens - t0);
                if (tg != configured) configure_tiles(configured = tg);
                groups[tg - 1](w, tiles, ring, n_blocks, b0, nb, x + t0 * x_stride, y + t0 * ldy, ldy);
            }
        }
}

}  // namespace

void matmul_tile_q8_0_strips_amx(KILN_MATMUL_TILE_ARGS) {
    tile_strips<Q8_0Strip>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy);
}
void matmul_tile_q4_0_strips_amx(KILN_MATMUL_TILE_ARGS) {
    tile_strips<Q4_0Strip>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy);
}

KILN_END_TARGET

}  // namespace kiln
