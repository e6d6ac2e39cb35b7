// Row dot products for the unquantized weight types F32, F16 and BF16: a scalar
// reference and AVX2 / AVX-512 versions. Each ISA region converts 8 or 16 weights
// to floats and keeps one accumulator per row, reduced once at the end.
#include <immintrin.h>

// GCC 12 warns falsely inside its own AVX-512 headers (_mm512_undefined_*).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <cstring>

#include "kernels/fp16.h"
#include "kernels/matmul_kernels.h"

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

}  // namespace

void dot_rows_f32_scalar(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_scalar<load_f32>(w, rb, nr, x, n, out);
}
void dot_rows_f16_scalar(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_scalar<load_f16>(w, rb, nr, x, n, out);
}
void dot_rows_bf16_scalar(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_scalar<load_bf16>(w, rb, nr, x, n, out);
}

// Everything in the ISA regions has internal linkage (or is an exported kernel), so no
// inline function compiled for AVX can be shared with code that runs without it.
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
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

}  // namespace

void dot_rows_f32_avx2(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_avx2<Avx2F32>(w, rb, nr, x, n, out, 4);
}
void dot_rows_f16_avx2(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_avx2<Avx2F16>(w, rb, nr, x, n, out, 2);
}
void dot_rows_bf16_avx2(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_avx2<Avx2BF16>(w, rb, nr, x, n, out, 2);
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")
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

template <class Load, size_t R>
void dot_rows_avx512_n(const uint8_t* w, size_t row_bytes, const float* x, size_t n, float* out) {
    __m512 acc[R];
    for (size_t r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 xv = _mm512_loadu_ps(x + i);
        for (size_t r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(Load::load(w + r * row_bytes, i, 0xffff), xv, acc[r]);
    }
    if (i < n) {
        const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1);
        const __m512 xv = _mm512_maskz_loadu_ps(mask, x + i);
        for (size_t r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(Load::load(w + r * row_bytes, i, mask), xv, acc[r]);
    }
    for (size_t r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
}

template <class Load>
void dot_rows_avx512(const uint8_t* w, size_t row_bytes, size_t n_rows, const float* x, size_t n, float* out) {
    switch (n_rows) {
        case 4: dot_rows_avx512_n<Load, 4>(w, row_bytes, x, n, out); break;
        case 3: dot_rows_avx512_n<Load, 3>(w, row_bytes, x, n, out); break;
        case 2: dot_rows_avx512_n<Load, 2>(w, row_bytes, x, n, out); break;
        case 1: dot_rows_avx512_n<Load, 1>(w, row_bytes, x, n, out); break;
        default: break;
    }
}

}  // namespace

void dot_rows_f32_avx512(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_avx512<Avx512F32>(w, rb, nr, x, n, out);
}
void dot_rows_f16_avx512(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_avx512<Avx512F16>(w, rb, nr, x, n, out);
}
void dot_rows_bf16_avx512(const uint8_t* w, size_t rb, size_t nr, const float* x, size_t n, float* out) {
    dot_rows_avx512<Avx512BF16>(w, rb, nr, x, n, out);
}
#pragma GCC pop_options

}  // namespace kiln
