#include "kernels/quants.h"
#include "kernels/type_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/fp16.h"

namespace kiln {

namespace {

// Round to nearest, ties to even, as lrintf does for |x| < 2^22 (every caller's range): adding
// and subtracting 1.5 * 2^23 leaves no fraction bits (IEEE arithmetic: the compiler may not
// fold the pair). Unlike lrintf it inlines and vectorizes.
int nearest(float x) {
    constexpr float kMagic = 12582912.0f;
    return static_cast<int>((x + kMagic) - kMagic);
}

float max_abs(const float* x, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
    return m;
}

// Scale and (non-positive) offset for x ~ scale * L + min with L in 0..nmax, chosen among a
// few candidate scales by weighted least squares. Returns the scale; -min goes to *neg_min.
float fit_scale_min(const float* x, size_t n, int nmax, uint8_t* L, float* neg_min) {
    float lo = *std::min_element(x, x + n), hi = *std::max_element(x, x + n);
    lo = std::min(lo, 0.0f);
    if (hi <= lo) {
        std::fill(L, L + n, 0);
        *neg_min = -lo;
        return 0.0f;
    }
    float best_err = INFINITY, best_scale = (hi - lo) / nmax, best_min = lo;
    uint8_t trial[QK_K];
    for (int step = -4; step <= 8; ++step) {
        const float iscale = (nmax + 0.1f * step) / (hi - lo);
        for (size_t i = 0; i < n; ++i) trial[i] = static_cast<uint8_t>(std::clamp(nearest(iscale * (x[i] - lo)), 0, nmax));
        // Least squares for (scale, min) given the levels.
        double sl = 0, sll = 0, sx = 0, sxl = 0;
        for (size_t i = 0; i < n; ++i) {
            sl += trial[i];
            sll += trial[i] * trial[i];
            sx += x[i];
            sxl += x[i] * trial[i];
        }
        const double det = n * sll - sl * sl;
        if (det <= 0) continue;
        float scale = static_cast<float>((n * sxl - sx * sl) / det);
        float min = static_cast<float>((sll * sx - sl * sxl) / det);
        if (min > 0) {
            min = 0;
            scale = sll > 0 ? static_cast<float>(sxl / sll) : 0.0f;
        }
        float err = 0;
        for (size_t i = 0; i < n; ++i) {
            const float d = scale * trial[i] + min - x[i];
            err += d * d;
        }
        if (err < best_err) {
            best_err = err, best_scale = scale, best_min = min;
            std::copy(trial, trial + n, L);
        }
    }
    *neg_min = -best_min;
    return best_scale;
}

// Shared by Q4_K and Q5_K: per-sub-block scales and mins, quantized to 6 bits, packed.
// Returns the levels in L (0..nmax).
void quantize_k_superblock(const float* x, int nmax, uint16_t& d_out, uint16_t& dmin_out, uint8_t* scales,
                           uint8_t* L) {
    float sc[8], mn[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        sc[j] = fit_scale_min(x + 32 * j, 32, nmax, L + 32 * j, &mn[j]);
        max_scale = std::max(max_scale, sc[j]);
        max_min = std::max(max_min, mn[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    d_out = f32_to_f16(max_scale / 63.0f);
    dmin_out = f32_to_f16(max_min / 63.0f);
    const float dq = f16_to_f32(d_out), mq = f16_to_f32(dmin_out);
    // Each sub-block's 6-bit scale and min: the nearest to its fitted ones, or neighbours that
    // quantize it with less error at the stored super-block scales; its levels against them.
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
        const int s0 = std::min(63, nearest(inv_scale * sc[j])), m0 = std::min(63, nearest(inv_min * mn[j]));
        const float* xj = x + 32 * j;
        float best_err = INFINITY;
        for (int s = std::max(s0 - 1, 0); s <= std::min(s0 + 1, 63); ++s)
            for (int m = std::max(m0 - 1, 0); m <= std::min(m0 + 1, 63); ++m) {
                const float d = dq * s, dm = mq * m;
                uint8_t l[32];
                float err = 0;
                for (int i = 0; i < 32; ++i) {
                    l[i] = d == 0.0f ? 0 : static_cast<uint8_t>(std::clamp(nearest((xj[i] + dm) / d), 0, nmax));
                    err += (d * l[i] - dm - xj[i]) * (d * l[i] - dm - xj[i]);
                }
                if (err < best_err) {
                    best_err = err, ls[j] = static_cast<uint8_t>(s), lm[j] = static_cast<uint8_t>(m);
                    std::copy_n(l, 32, L + 32 * j);
                }
            }
    }
    std::memset(scales, 0, 12);
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
            scales[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
        }
    }
}

// Symmetric scale for L in -nmax..nmax-1, among a few candidates, by least squares.
float fit_scale_symmetric(const float* x, size_t n, int nmax) {
    float amax = 0, signed_max = 0;
    for (size_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), signed_max = x[i];
    if (amax == 0.0f) return 0.0f;
    float best_err = INFINITY, best = signed_max / -nmax;
    for (int step = -9; step <= 9; ++step) {
        const float iscale = -(nmax + 0.1f * step) / signed_max;
        double sxl = 0, sll = 0;
        for (size_t i = 0; i < n; ++i) {
            const int l = std::clamp(nearest(iscale * x[i]), -nmax, nmax - 1);
            sxl += x[i] * l;
            sll += l * l;
        }
        if (sll == 0) continue;
        const auto scale = static_cast<float>(sxl / sll);
        float err = 0;
        for (size_t i = 0; i < n; ++i) {
            const int l = std::clamp(nearest(iscale * x[i]), -nmax, nmax - 1);
            err += (scale * l - x[i]) * (scale * l - x[i]);
        }
        if (err < best_err) best_err = err, best = scale;
    }
    return best;
}

template <float (*to_f32)(uint16_t)>
void halves_to_f32(const uint8_t* p, float* y, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        y[i] = to_f32(h);
    }
}

}  // namespace

void quantize_row_q8_0(const float* x, BlockQ8_0* y, size_t n) {
    for (size_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
        const float d = max_abs(x, QK8_0) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        for (size_t i = 0; i < QK8_0; ++i) y[b].qs[i] = static_cast<int8_t>(nearest(x[i] * id));
    }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK8_0; ++b) {
        const float d = f16_to_f32(x[b].d);
        for (size_t i = 0; i < QK8_0; ++i) *y++ = d * x[b].qs[i];
    }
}

void quantize_row_q4_0(const float* x, BlockQ4_0* y, size_t n) {
    for (size_t b = 0; b < n / QK4_0; ++b, x += QK4_0) {
        // The value of largest magnitude maps to -8 exactly, as ggml does.
        float amax = 0, max = 0;
        for (size_t i = 0; i < QK4_0; ++i)
            if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        for (size_t i = 0; i < QK4_0 / 2; ++i) {
            const int lo = std::min(15, static_cast<int>(x[i] * id + 8.5f));
            const int hi = std::min(15, static_cast<int>(x[i + 16] * id + 8.5f));
            y[b].qs[i] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK4_0; ++b, y += QK4_0) {
        const float d = f16_to_f32(x[b].d);
        for (size_t i = 0; i < QK4_0 / 2; ++i) {
            y[i] = d * ((x[b].qs[i] & 0xF) - 8);
            y[i + 16] = d * ((x[b].qs[i] >> 4) - 8);
        }
    }
}

namespace {

// Q4_1 and Q5_1: the block's range mapped onto 0..nmax (min and max exact up to rounding),
// rounded half up, as ggml's reference quantizer does.
template <class Block, int nmax>
void quantize_affine(const float* x, Block* y, size_t n) {
    for (size_t b = 0; b < n / QK4_0; ++b, x += QK4_0) {
        const float lo = *std::min_element(x, x + QK4_0), hi = *std::max_element(x, x + QK4_0);
        const float d = (hi - lo) / nmax;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        y[b].m = f32_to_f16(lo);
        int q[QK4_0];
        for (size_t i = 0; i < QK4_0; ++i) q[i] = std::min(nmax, static_cast<int>((x[i] - lo) * id + 0.5f));
        for (size_t i = 0; i < QK4_0 / 2; ++i) y[b].qs[i] = static_cast<uint8_t>((q[i] & 0xF) | (q[i + 16] & 0xF) << 4);
        if constexpr (nmax == 31) {
            std::memset(y[b].qh, 0, 4);
            for (size_t i = 0; i < QK4_0; ++i) y[b].qh[i / 8] |= static_cast<uint8_t>((q[i] >> 4) << (i % 8));
        }
    }
}

// The level of element i of a block with Q4_0's nibble order.
inline int nibble(const uint8_t* qs, size_t i) { return i < 16 ? (qs[i] & 0xF) : (qs[i - 16] >> 4); }

}  // namespace

void quantize_row_q4_1(const float* x, BlockQ4_1* y, size_t n) { quantize_affine<BlockQ4_1, 15>(x, y, n); }
void quantize_row_q5_1(const float* x, BlockQ5_1* y, size_t n) { quantize_affine<BlockQ5_1, 31>(x, y, n); }

void quantize_row_q5_0(const float* x, BlockQ5_0* y, size_t n) {
    for (size_t b = 0; b < n / QK4_0; ++b, x += QK4_0) {
        // The value of largest magnitude maps to -16 exactly, as ggml does.
        float amax = 0, max = 0;
        for (size_t i = 0; i < QK4_0; ++i)
            if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
        const float d = max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        std::memset(y[b].qh, 0, 4);
        int q[QK4_0];
        for (size_t i = 0; i < QK4_0; ++i) {
            q[i] = std::min(31, static_cast<int>(x[i] * id + 16.5f));
            y[b].qh[i / 8] |= static_cast<uint8_t>((q[i] >> 4) << (i % 8));
        }
        for (size_t i = 0; i < QK4_0 / 2; ++i) y[b].qs[i] = static_cast<uint8_t>((q[i] & 0xF) | (q[i + 16] & 0xF) << 4);
    }
}

namespace {

// The codebook entry nearest v.
int nearest_iq4nl(float v) {
    int best = 0;
    for (int k = 1; k < 16; ++k)
        if (std::fabs(v - kIq4nlValues[k]) < std::fabs(v - kIq4nlValues[best])) best = k;
    return best;
}

}  // namespace

void quantize_row_iq4_nl(const float* x, BlockIQ4_NL* y, size_t n) {
    // Per block, among candidate scales that put the value of largest magnitude at or near an
    // end of the codebook: levels nearest x / d, d refitted to them by least squares and
    // rounded to f16, the levels assigned again; the candidate of least squared error wins.
    for (size_t b = 0; b < n / QK4_0; ++b, x += QK4_0) {
        float amax = 0, max = 0;
        for (size_t i = 0; i < QK4_0; ++i)
            if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
        int best_q[QK4_0] = {};
        uint16_t best_d = 0;
        float best_err = INFINITY;
        if (amax > 1e-30f) {
            for (int step = -40; step <= 40; ++step) {
                const float id = (kIq4nlValues[0] + 0.25f * step) / max;
                int q[QK4_0];
                double sxq = 0, sqq = 0;
                for (size_t i = 0; i < QK4_0; ++i) {
                    q[i] = nearest_iq4nl(x[i] * id);
                    sxq += double(kIq4nlValues[q[i]]) * x[i];
                    sqq += double(kIq4nlValues[q[i]]) * kIq4nlValues[q[i]];
                }
                if (sqq <= 0) continue;
                const uint16_t dh = f32_to_f16(static_cast<float>(sxq / sqq));
                const float d = f16_to_f32(dh);
                if (d == 0.0f) continue;
                float err = 0;
                for (size_t i = 0; i < QK4_0; ++i) {
                    q[i] = nearest_iq4nl(x[i] / d);
                    err += (d * kIq4nlValues[q[i]] - x[i]) * (d * kIq4nlValues[q[i]] - x[i]);
                }
                if (err < best_err) {
                    best_err = err, best_d = dh;
                    std::copy_n(q, QK4_0, best_q);
                }
            }
        }
        y[b].d = best_d;
        for (size_t i = 0; i < QK4_0 / 2; ++i) y[b].qs[i] = static_cast<uint8_t>(best_q[i] | best_q[i + 16] << 4);
    }
}

void dequantize_row_q4_1(const BlockQ4_1* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK4_0; ++b, y += QK4_0) {
        const float d = f16_to_f32(x[b].d), m = f16_to_f32(x[b].m);
        for (size_t i = 0; i < QK4_0; ++i) y[i] = d * nibble(x[b].qs, i) + m;
    }
}

void dequantize_row_q5_0(const BlockQ5_0* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK4_0; ++b, y += QK4_0) {
        const float d = f16_to_f32(x[b].d);
        for (size_t i = 0; i < QK4_0; ++i) y[i] = d * ((nibble(x[b].qs, i) | q5_high_bit(x[b].qh, i) << 4) - 16);
    }
}

void dequantize_row_q5_1(const BlockQ5_1* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK4_0; ++b, y += QK4_0) {
        const float d = f16_to_f32(x[b].d), m = f16_to_f32(x[b].m);
        for (size_t i = 0; i < QK4_0; ++i) y[i] = d * (nibble(x[b].qs, i) | q5_high_bit(x[b].qh, i) << 4) + m;
    }
}

void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK4_0; ++b, y += QK4_0) {
        const float d = f16_to_f32(x[b].d);
        for (size_t i = 0; i < QK4_0; ++i) y[i] = d * kIq4nlValues[nibble(x[b].qs, i)];
    }
}

void quantize_row_q4_K(const float* x, BlockQ4_K* y, size_t n) {
    uint8_t L[QK_K];
    for (size_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        quantize_k_superblock(x, 15, y[b].d, y[b].dmin, y[b].scales, L);
        for (size_t j = 0; j < QK_K; j += 64)
            for (size_t l = 0; l < 32; ++l) y[b].qs[j / 2 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    }
}

void dequantize_row_q4_K(const BlockQ4_K* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK_K; ++b) {
        const float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
        const uint8_t* q = x[b].qs;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc, m;
            get_scale_min_k4(j, x[b].scales, sc, m);
            const float d1 = d * sc, m1 = dmin * m;
            get_scale_min_k4(j + 1, x[b].scales, sc, m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

void quantize_row_q5_K(const float* x, BlockQ5_K* y, size_t n) {
    uint8_t L[QK_K];
    for (size_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        quantize_k_superblock(x, 31, y[b].d, y[b].dmin, y[b].scales, L);
        std::memset(y[b].qh, 0, sizeof y[b].qh);
        uint8_t m1 = 1, m2 = 2;
        for (size_t j = 0; j < QK_K; j += 64, m1 <<= 2, m2 <<= 2) {
            for (size_t l = 0; l < 32; ++l) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) l1 -= 16, y[b].qh[l] |= m1;
                if (l2 > 15) l2 -= 16, y[b].qh[l] |= m2;
                y[b].qs[j / 2 + l] = static_cast<uint8_t>(l1 | (l2 << 4));
            }
        }
    }
}

void dequantize_row_q5_K(const BlockQ5_K* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK_K; ++b) {
        const float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
        const uint8_t* ql = x[b].qs;
        const uint8_t* qh = x[b].qh;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < 8; j += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            get_scale_min_k4(j, x[b].scales, sc, m);
            const float d1 = d * sc, m1 = dmin * m;
            get_scale_min_k4(j + 1, x[b].scales, sc, m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

void quantize_row_q6_K(const float* x, BlockQ6_K* y, size_t n) {
    for (size_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        float scales[16], max_scale = 0, max_abs_scale = 0;
        for (int s = 0; s < 16; ++s) {
            scales[s] = fit_scale_symmetric(x + 16 * s, 16, 32);
            if (std::fabs(scales[s]) > max_abs_scale) max_abs_scale = std::fabs(scales[s]), max_scale = scales[s];
        }
        std::memset(&y[b], 0, sizeof y[b]);
        int8_t L[QK_K] = {};
        if (max_abs_scale > 0.0f) {
            const float iscale = -128.0f / max_scale;
            y[b].d = f32_to_f16(1.0f / iscale);
            const float dsuper = f16_to_f32(y[b].d);
            // Each sub-block's integer scale: the nearest to its fitted scale, or a neighbour
            // when that quantizes the sub-block with less error at the stored super-scale.
            for (int s = 0; s < 16; ++s) {
                const int mid = nearest(iscale * scales[s]);
                float best_err = INFINITY;
                for (int sc = std::max(mid - 2, -128); sc <= std::min(mid + 2, 127); ++sc) {
                    const float d = dsuper * sc;
                    if (d == 0.0f) continue;
                    int8_t l[16];
                    float err = 0;
                    for (int i = 0; i < 16; ++i) {
                        l[i] = static_cast<int8_t>(std::clamp(nearest(x[16 * s + i] / d), -32, 31));
                        err += (d * l[i] - x[16 * s + i]) * (d * l[i] - x[16 * s + i]);
                    }
                    if (err < best_err) {
                        best_err = err;
                        y[b].scales[s] = static_cast<int8_t>(sc);
                        std::copy_n(l, 16, L + 16 * s);
                    }
                }
            }
        }
        uint8_t* ql = y[b].ql;
        uint8_t* qh = y[b].qh;
        for (size_t j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (size_t l = 0; l < 32; ++l) {
                const int q1 = L[j + l] + 32, q2 = L[j + l + 32] + 32, q3 = L[j + l + 64] + 32, q4 = L[j + l + 96] + 32;
                ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

void dequantize_row_q6_K(const BlockQ6_K* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK_K; ++b) {
        const float d = f16_to_f32(x[b].d);
        const uint8_t* ql = x[b].ql;
        const uint8_t* qh = x[b].qh;
        const int8_t* sc = x[b].scales;
        for (int h = 0; h < 2; ++h, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

void quantize_row_q8_K(const float* x, BlockQ8_K* y, size_t n) {
    for (size_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        const float amax = max_abs(x, QK_K);
        if (amax == 0.0f) {
            std::memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = 127.0f / amax;
        y[b].d = 1.0f / iscale;
        for (size_t i = 0; i < QK_K; ++i) y[b].qs[i] = static_cast<int8_t>(std::min(127, nearest(iscale * x[i])));
        for (size_t g = 0; g < QK_K / 16; ++g) {
            int sum = 0;
            for (size_t i = 0; i < 16; ++i) sum += y[b].qs[16 * g + i];
            y[b].bsums[g] = static_cast<int16_t>(sum);
        }
    }
}

void quantize_row_f16(const float* x, uint16_t* y, size_t n) {
    for (size_t i = 0; i < n; ++i) y[i] = f32_to_f16(x[i]);
}
void quantize_row_bf16(const float* x, uint16_t* y, size_t n) {
    for (size_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}
void dequantize_row_f16(const uint16_t* x, float* y, size_t n) { halves_to_f32<f16_to_f32>(reinterpret_cast<const uint8_t*>(x), y, n); }
void dequantize_row_bf16(const uint16_t* x, float* y, size_t n) { halves_to_f32<bf16_to_f32>(reinterpret_cast<const uint8_t*>(x), y, n); }

void quantize_row(DType type, const float* x, void* y, size_t n) { traits(type).from_float(x, y, n); }

void quantize_row(Isa isa, DType type, const float* x, void* y, size_t n) {
    const TypeTraits& t = traits(type);
    (has_avx512(isa) && t.from_float_avx512 != nullptr ? t.from_float_avx512 : t.from_float)(x, y, n);
}

void dequantize_row(DType type, const void* x, float* y, size_t n) { traits(type).to_float(x, y, n); }

void convert_rows(DType from, const void* src, DType to, void* dst, size_t n_rows, size_t n, int n_threads) {
    const size_t in_bytes = row_bytes(*type_info(static_cast<uint32_t>(from)), n);
    const size_t out_bytes = row_bytes(*type_info(static_cast<uint32_t>(to)), n);
#pragma omp parallel num_threads(n_threads)
    {
        std::vector<float> row(n);
#pragma omp for schedule(dynamic, 16)
        for (size_t r = 0; r < n_rows; ++r) {
            dequantize_row(from, static_cast<const uint8_t*>(src) + r * in_bytes, row.data(), n);
            quantize_row(to, row.data(), static_cast<uint8_t*>(dst) + r * out_bytes, n);
        }
    }
}

}  // namespace kiln
