// Products with the unquantized weight types F32, F16 and BF16: a scalar reference and AVX2
// row dot products, and AVX-512 tiles of rows x tokens. Each ISA region converts 8 or 16
// weights to floats and keeps one accumulator per row and token, reduced once at the end.
#include <immintrin.h>

// GCC 12 warns falsely inside its own AVX-512 headers (_mm512_undefined_*).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// __m512's alignment attribute does not belong to the function pointer type DotTileFn holds.
#pragma GCC diagnostic ignored "-Wignored-attributes"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "kernels/fp16.h"
#include "kernels/targets.h"
#include "kernels/matmul_kernels.h"
#include "kernels/repack.h"

namespace kiln {

namespace {

template <float (*to_f32)(const uint8_t*, size_t)>
void dot_rows_scalar(const uint8_t* w, size_t row_bytes, size_t n_rows, const float* x, size_t n, float* out) {
    for (size_t r = 0; r < n_rows; ++r) {
        const uint8_t* row = w + r * row_bytes;
        float sum = 0.0f;
        for (size_t i = 0; i < n; ++i) sum += to_f32(row, i) * x[i];
        out[r] = sum;
    }
}

float load_f32(const uint8_t* row, size_t i) {
    float v;
    std::memcpy(&v, row + 4 * i, 4);
    return v;
}

float load_f16(const uint8_t* row, size_t i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    return f16_to_f32(h);
}

float load_bf16(const uint8_t* row, size_t i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    return bf16_to_f32(h);
}

void dot_rows_f32_scalar(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_scalar<load_f32>(w, rb, nr, x, n, out);
}
void dot_rows_f16_scalar(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_scalar<load_f16>(w, rb, nr, x, n, out);
}
void dot_rows_bf16_scalar(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_scalar<load_bf16>(w, rb, nr, x, n, out);
}

using DotRowsFn = void (*)(const uint8_t*, size_t, size_t, const float*, size_t, float*);

// By rows: the rows of the tile in groups of four, each group against every token.
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

// Everything in the ISA regions has internal linkage (or is an exported kernel), so no
// inline function compiled for AVX can be shared with code that runs without it.
KILN_BEGIN_TARGET(KILN_TARGET_AVX2)
namespace {

// Eight weights starting at element i, as floats; `count` < 8 loads a zero-padded tail.
struct Avx2F32 {
    static __m256 load(const uint8_t* row, size_t i) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i); }
};
struct Avx2F16 {
    static __m256 load(const uint8_t* row, size_t i) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
    }
};
struct Avx2BF16 {
    static __m256 load(const uint8_t* row, size_t i) {
        const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    }
};

inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

template <class Load, size_t R>
void dot_rows_avx2_n(const uint8_t* w, size_t row_bytes, size_t elem_bytes, const float* x, size_t n, float* out) {
    __m256 acc[R];
    for (size_t r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        for (size_t r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(Load::load(w + r * row_bytes, i), xv, acc[r]);
    }
    if (i < n) {
        // Tail: copy into zero-padded buffers so the same vector code finishes the row.
        alignas(32) float xt[8] = {};
        std::memcpy(xt, x + i, (n - i) * sizeof(float));
        const __m256 xv = _mm256_load_ps(xt);
        for (size_t r = 0; r < R; ++r) {
            alignas(32) uint8_t wt[32] = {};
            std::memcpy(wt, w + r * row_bytes + i * elem_bytes, (n - i) * elem_bytes);
            acc[r] = _mm256_fmadd_ps(Load::load(wt, 0), xv, acc[r]);
        }
    }
    for (size_t r = 0; r < R; ++r) out[r] = hsum256(acc[r]);
}

template <class Load>
void dot_rows_avx2(const uint8_t* w, size_t row_bytes, size_t n_rows, const float* x, size_t n, float* out,
                   size_t elem_bytes) {
    switch (n_rows) {
        case 4: dot_rows_avx2_n<Load, 4>(w, row_bytes, elem_bytes, x, n, out); break;
        case 3: dot_rows_avx2_n<Load, 3>(w, row_bytes, elem_bytes, x, n, out); break;
        case 2: dot_rows_avx2_n<Load, 2>(w, row_bytes, elem_bytes, x, n, out); break;
        case 1: dot_rows_avx2_n<Load, 1>(w, row_bytes, elem_bytes, x, n, out); break;
        default: break;
    }
}

void dot_rows_f32_avx2(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_avx2<Avx2F32>(w, rb, nr, x, n, out, 4);
}
void dot_rows_f16_avx2(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_avx2<Avx2F16>(w, rb, nr, x, n, out, 2);
}
void dot_rows_bf16_avx2(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_avx2<Avx2BF16>(w, rb, nr, x, n, out, 2);
}

}  // namespace
KILN_END_TARGET

KILN_BEGIN_TARGET(KILN_TARGET_AVX512)
namespace {

// Sixteen weights starting at element i; lanes outside `mask` are zero.
struct Avx512F32 {
    static __m512 load(const uint8_t* row, size_t i, __mmask16 mask) {
        return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(row) + i);
    }
};
struct Avx512F16 {
    static __m512 load(const uint8_t* row, size_t i, __mmask16 mask) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, row + 2 * i));
    }
};
struct Avx512BF16 {
    static __m512 load(const uint8_t* row, size_t i, __mmask16 mask) {
        const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, row + 2 * i));
        return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
    }
};

// R rows against T tokens, each pair with one accumulator: per 16 elements, R weight loads
// serve T tokens. Elements [k0, k1) of n: the accumulators start at zero when k0 = 0 (else
// from `state`), and are reduced into y when k1 = n (else saved to `state`; a saved vector is
// exact). A pair's arithmetic (16 lanes in element order, the masked tail, one reduction)
// depends on neither R, T nor the chunks, so a token's result is the same alone or in a batch.
// GCC 12 keeps the accumulators in registers only when every loop over them is unrolled by
// pragma; otherwise it stores all of them to the stack on each iteration.
template <class Load, size_t R, size_t T>
void dot_tile_avx512(const uint8_t* w, size_t row_bytes, const float* x, size_t ldx, size_t k0, size_t k1, size_t n,
                     __m512* state, float* y, size_t ldy) {
    __m512 acc[R * T];
#pragma GCC unroll 32
    for (size_t i = 0; i < R * T; ++i) acc[i] = k0 == 0 ? _mm512_setzero_ps() : state[i];
    for (size_t i = k0; i < k1; i += 16) {
        const auto mask = static_cast<__mmask16>(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
        __m512 wv[R];
#pragma GCC unroll 16
        for (size_t r = 0; r < R; ++r) wv[r] = Load::load(w + r * row_bytes, i, mask);
#pragma GCC unroll 16
        for (size_t t = 0; t < T; ++t) {
            const __m512 xv = _mm512_maskz_loadu_ps(mask, x + t * ldx + i);
#pragma GCC unroll 16
            for (size_t r = 0; r < R; ++r) acc[r * T + t] = _mm512_fmadd_ps(wv[r], xv, acc[r * T + t]);
        }
    }
    if (k1 < n) {
#pragma GCC unroll 32
        for (size_t i = 0; i < R * T; ++i) state[i] = acc[i];
        return;
    }
#pragma GCC unroll 16
    for (size_t r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (size_t t = 0; t < T; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r * T + t]);
}

constexpr size_t kTileRows = 4, kTileTokens = 6;  // 24 accumulators, 4 weight registers
// Elements per pass over a tile: the tokens' slices (6 KiB) stay in L1 while every row
// group of the block passes over them.
constexpr size_t kChunk = 256;

using DotTileFn = void (*)(const uint8_t*, size_t, const float*, size_t, size_t, size_t, size_t, __m512*, float*, size_t);

template <class Load, size_t... I>
constexpr std::array<DotTileFn, sizeof...(I)> dot_tiles(std::index_sequence<I...>) {
    return {dot_tile_avx512<Load, I / kTileTokens + 1, I % kTileTokens + 1>...};
}

template <class Load>
void float_tile_avx512(KILN_MATMUL_TILE_ARGS) {
    static constexpr auto tiles = dot_tiles<Load>(std::make_index_sequence<kTileRows * kTileTokens>());
    constexpr size_t kMaxRowGroups = kStripRows / kTileRows;
    __m512 state[kMaxRowGroups][kTileRows * kTileTokens];
    const auto* xf = reinterpret_cast<const float*>(x);
    const size_t ldx = x_stride / sizeof(float);
    for (size_t r0 = 0; r0 < n_rows; r0 += kStripRows) {
        const size_t block_rows = std::min(kStripRows, n_rows - r0);
        for (size_t t = 0; t < n_tokens; t += kTileTokens) {
            const size_t nt = std::min(kTileTokens, n_tokens - t);
            for (size_t k0 = 0; k0 < n; k0 += kChunk) {
                const size_t k1 = std::min(n, k0 + kChunk);
                for (size_t r = 0; r < block_rows; r += kTileRows) {
                    const size_t nr = std::min(kTileRows, block_rows - r);
                    tiles[(nr - 1) * kTileTokens + nt - 1](w + (r0 + r) * row_bytes, row_bytes, xf + t * ldx, ldx, k0, k1, n,
                                                           state[r / kTileRows], y + t * ldy + r0 + r, ldy);
                }
            }
        }
    }
}

}  // namespace

void matmul_tile_f32_avx512(KILN_MATMUL_TILE_ARGS) {
    float_tile_avx512<Avx512F32>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy);
}
void matmul_tile_f16_avx512(KILN_MATMUL_TILE_ARGS) {
    float_tile_avx512<Avx512F16>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy);
}
void matmul_tile_bf16_avx512(KILN_MATMUL_TILE_ARGS) {
    float_tile_avx512<Avx512BF16>(w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy);
}
KILN_END_TARGET

#define KILN_TILE_ARGS_PASS w, row_bytes, n_rows, x, x_stride, n_tokens, n, y, ldy
void matmul_tile_f32_scalar(KILN_MATMUL_TILE_ARGS) { float_tile<dot_rows_f32_scalar>(KILN_TILE_ARGS_PASS); }
void matmul_tile_f16_scalar(KILN_MATMUL_TILE_ARGS) { float_tile<dot_rows_f16_scalar>(KILN_TILE_ARGS_PASS); }
void matmul_tile_bf16_scalar(KILN_MATMUL_TILE_ARGS) { float_tile<dot_rows_bf16_scalar>(KILN_TILE_ARGS_PASS); }
void matmul_tile_f32_avx2(KILN_MATMUL_TILE_ARGS) { float_tile<dot_rows_f32_avx2>(KILN_TILE_ARGS_PASS); }
void matmul_tile_f16_avx2(KILN_MATMUL_TILE_ARGS) { float_tile<dot_rows_f16_avx2>(KILN_TILE_ARGS_PASS); }
void matmul_tile_bf16_avx2(KILN_MATMUL_TILE_ARGS) { float_tile<dot_rows_bf16_avx2>(KILN_TILE_ARGS_PASS); }
#undef KILN_TILE_ARGS_PASS

}  // namespace kiln
