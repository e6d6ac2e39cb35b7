// AVX-512 versions of the activation quantizers (Q8_0 for Q8_0/Q4_0 weights, Q8_K for the
// K-quants) and of the F16 conversion (the KV cache). They do the scalar reference's float
// steps in the same order, so their bytes are the reference's (tested); only the speed differs.
#include <immintrin.h>

#include <cstring>

#include "kernels/fp16.h"
#include "kernels/targets.h"
#include "kernels/quants.h"

// GCC 12 warns falsely inside its own AVX-512 headers (_mm512_undefined_*).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace kiln {

KILN_BEGIN_TARGET(KILN_TARGET_AVX512)

namespace {

__m512 abs_ps(__m512 v) { return _mm512_andnot_ps(_mm512_set1_ps(-0.0f), v); }

}  // namespace

void quantize_row_f16_avx512(const float* x, uint16_t* y, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) y[i] = f32_to_f16(x[i]);
}

void quantize_row_q8_0_avx512(const float* x, BlockQ8_0* y, size_t n) {
    for (size_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
        const __m512 lo = _mm512_loadu_ps(x), hi = _mm512_loadu_ps(x + 16);
        const float d = _mm512_reduce_max_ps(_mm512_max_ps(abs_ps(lo), abs_ps(hi))) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        // Conversion rounds to nearest even (MXCSR's default), as the reference's nearest().
        const __m512 s = _mm512_set1_ps(id);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(lo, s))));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16),
                         _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(hi, s))));
    }
}

void quantize_row_q8_K_avx512(const float* x, BlockQ8_K* y, size_t n) {
    for (size_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (size_t i = 0; i < QK_K; i += 16) m = _mm512_max_ps(m, abs_ps(_mm512_loadu_ps(x + i)));
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0.0f) {
            std::memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = 127.0f / amax;
        y[b].d = 1.0f / iscale;
        const __m512 s = _mm512_set1_ps(iscale);
        for (size_t g = 0; g < QK_K / 16; ++g) {
            const __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(s, _mm512_loadu_ps(x + 16 * g))),
                                               _mm512_set1_epi32(127));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16 * g), _mm512_cvtsepi32_epi8(q));
            y[b].bsums[g] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
        }
    }
}

KILN_END_TARGET

}  // namespace kiln
