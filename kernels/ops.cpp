#include "kernels/ops.h"
#include "kernels/targets.h"

#include <immintrin.h>

// GCC 12 warns falsely inside its own AVX-512 headers (_mm512_undefined_*).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cmath>

#include "kernels/exp_avx512.h"

namespace kiln {

void rmsnorm(float* out, const float* x, const float* weight, size_t n, float eps) {
    // Sum of squares in double, which keeps long rows from drifting; in eight independent
    // partial sums, since one chain of dependent adds took longer than the rest of the row.
    double part[8] = {};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t j = 0; j < 8; ++j) part[j] += static_cast<double>(x[i + j]) * x[i + j];
    for (; i < n; ++i) part[i % 8] += static_cast<double>(x[i]) * x[i];
    const double ss = ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
    for (size_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void rope_table(int64_t pos, size_t rot_dim, float freq_base, float freq_scale, const float* freq_factors, float mscale,
                float* cs) {
    const double p = static_cast<double>(pos) * freq_scale;
    for (size_t i = 0; i < rot_dim; i += 2) {
        double freq = std::pow(static_cast<double>(freq_base), -static_cast<double>(i) / rot_dim);
        if (freq_factors != nullptr) freq /= freq_factors[i / 2];
        const double angle = p * freq;
        cs[i] = static_cast<float>(std::cos(angle) * mscale);
        cs[i + 1] = static_cast<float>(std::sin(angle) * mscale);
    }
}

void rope(float* x, size_t n_heads, size_t head_dim, size_t rot_dim, const float* cs) {
    for (size_t i = 0; i < rot_dim; i += 2) {
        const float c = cs[i], s = cs[i + 1];
        for (size_t h = 0; h < n_heads; ++h) {
            float* p = x + h * head_dim + i;
            const float a = p[0], b = p[1];
            p[0] = a * c - b * s;
            p[1] = a * s + b * c;
        }
    }
}

void rope_neox(float* x, size_t n_heads, size_t head_dim, size_t rot_dim, const float* cs) {
    const size_t half = rot_dim / 2;
    for (size_t i = 0; i < half; ++i) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        for (size_t h = 0; h < n_heads; ++h) {
            float* p = x + h * head_dim + i;
            const float a = p[0], b = p[half];
            p[0] = a * c - b * s;
            p[half] = a * s + b * c;
        }
    }
}

namespace {

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluA = 0.044715f;

// 0.5 x (1 + tanh(u)) written as x / (1 + e^(-2u)), which keeps its precision where tanh
// nears -1 (1 + tanh would cancel).
void geglu_scalar(float* gate, const float* up, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        const float x = gate[i];
        gate[i] = x / (1.0f + std::exp(-2.0f * kGeluC * (x + kGeluA * x * x * x))) * up[i];
    }
}

void swiglu_scalar(float* gate, const float* up, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

KILN_BEGIN_TARGET(KILN_TARGET_AVX512)

// Every element takes the same path, the last partial vector under a mask, so that an
// element's result does not depend on where it lies (which changes with the batch).
void swiglu_avx512(float* gate, const float* up, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(k, gate + i);
        const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        _mm512_mask_storeu_ps(gate + i, k, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(k, up + i)));
    }
}

// As geglu_scalar; exp_avx512 clamps, so the far tails give 0 and x.
void geglu_avx512(float* gate, const float* up, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
        const __m512 x = _mm512_maskz_loadu_ps(k, gate + i);
        const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
        const __m512 u = _mm512_mul_ps(_mm512_set1_ps(kGeluC), _mm512_fmadd_ps(_mm512_set1_ps(kGeluA), x3, x));
        const __m512 e = exp_avx512(_mm512_mul_ps(_mm512_set1_ps(-2.0f), u));
        const __m512 g = _mm512_div_ps(x, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(gate + i, k, _mm512_mul_ps(g, _mm512_maskz_loadu_ps(k, up + i)));
    }
}

KILN_END_TARGET

using GluFn = void (*)(float* gate, const float* up, size_t n);

void glu(GluFn fn, float* gate, const float* up, size_t n, int n_threads) {
    constexpr size_t kChunk = 4096;  // split into chunks of whole vectors, one pass each
    const size_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(n_threads) schedule(static) if (n >= 32768 && n_threads > 1)
    for (size_t c = 0; c < chunks; ++c) {
        const size_t i = c * kChunk;
        fn(gate + i, up + i, std::min(kChunk, n - i));
    }
}

}  // namespace

void swiglu(Isa isa, float* gate, const float* up, size_t n, int n_threads) {
    glu(has_avx512(isa) ? swiglu_avx512 : swiglu_scalar, gate, up, n, n_threads);
}

void geglu(Isa isa, float* gate, const float* up, size_t n, int n_threads) {
    glu(has_avx512(isa) ? geglu_avx512 : geglu_scalar, gate, up, n, n_threads);
}

void add(float* x, const float* y, size_t n) {
    for (size_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace kiln
