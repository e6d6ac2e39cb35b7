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

// The value of largest magnitude (the first of them), with its sign.
float signed_max(const float* x, size_t n) {
    float amax = 0, max = 0;
    for (size_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
    return max;
}

// Element i's weight in a quantizer's squared error: the importance given, or 1.
inline float weight(const float* w, size_t i) { return w != nullptr ? w[i] : 1.0f; }

float max_abs(const float* x, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
    return m;
}

// Scale and (non-positive) offset for x ~ scale * L + min with L in 0..nmax, chosen among a
// few candidate scales by least squares weighted by w (nullptr: 1). Returns the scale; -min
// goes to *neg_min.
float fit_scale_min(const float* x, size_t n, int nmax, uint8_t* L, float* neg_min, const float* w) {
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
        double sw = 0, sl = 0, sll = 0, sx = 0, sxl = 0;
        for (size_t i = 0; i < n; ++i) {
            const double wi = weight(w, i);
            sw += wi;
            sl += wi * trial[i];
            sll += wi * trial[i] * trial[i];
            sx += wi * x[i];
            sxl += wi * x[i] * trial[i];
        }
        const double det = sw * sll - sl * sl;
        if (det <= 0) continue;
        float scale = static_cast<float>((sw * sxl - sx * sl) / det);
        float min = static_cast<float>((sll * sx - sl * sxl) / det);
        if (min > 0) {
            min = 0;
            scale = sll > 0 ? static_cast<float>(sxl / sll) : 0.0f;
        }
        float err = 0;
        for (size_t i = 0; i < n; ++i) {
            const float d = scale * trial[i] + min - x[i];
            err += weight(w, i) * d * d;
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
                           uint8_t* L, const float* w) {
    float sc[8], mn[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        sc[j] = fit_scale_min(x + 32 * j, 32, nmax, L + 32 * j, &mn[j], w != nullptr ? w + 32 * j : nullptr);
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
        const float* wj = w != nullptr ? w + 32 * j : nullptr;
        float best_err = INFINITY;
        for (int s = std::max(s0 - 1, 0); s <= std::min(s0 + 1, 63); ++s)
            for (int m = std::max(m0 - 1, 0); m <= std::min(m0 + 1, 63); ++m) {
                const float d = dq * s, dm = mq * m;
                uint8_t l[32];
                float err = 0;
                for (int i = 0; i < 32; ++i) {
                    l[i] = d == 0.0f ? 0 : static_cast<uint8_t>(std::clamp(nearest((xj[i] + dm) / d), 0, nmax));
                    err += weight(wj, i) * (d * l[i] - dm - xj[i]) * (d * l[i] - dm - xj[i]);
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

// Symmetric scale for L in -nmax..nmax-1, among a few candidates, by least squares weighted
// by w (nullptr: 1).
float fit_scale_symmetric(const float* x, size_t n, int nmax, const float* w) {
    const float max = signed_max(x, n);
    if (max == 0.0f) return 0.0f;
    float best_err = INFINITY, best = max / -nmax;
    for (int step = -9; step <= 9; ++step) {
        const float iscale = -(nmax + 0.1f * step) / max;
        double sxl = 0, sll = 0;
        for (size_t i = 0; i < n; ++i) {
            const int l = std::clamp(nearest(iscale * x[i]), -nmax, nmax - 1);
            sxl += weight(w, i) * x[i] * l;
            sll += weight(w, i) * l * l;
        }
        if (sll == 0) continue;
        const auto scale = static_cast<float>(sxl / sll);
        float err = 0;
        for (size_t i = 0; i < n; ++i) {
            const int l = std::clamp(nearest(iscale * x[i]), -nmax, nmax - 1);
            err += weight(w, i) * (scale * l - x[i]) * (scale * l - x[i]);
        }
        if (err < best_err) best_err = err, best = scale;
    }
    return best;
}

// A group of 16's integer factor against a stored super-block scale: among mid - 2 .. mid + 2
// (within [fmin, fmax]), the one whose levels (nearest x / d, clamped to [lmin, lmax])
// quantize the group with least squared error; its levels go to `levels`. 0 when none is
// nonzero.
int best_group_factor(const float* x, float dsuper, int mid, int fmin, int fmax, int lmin, int lmax, int8_t* levels,
                      const float* w) {
    float best_err = INFINITY;
    int best = 0;
    std::fill_n(levels, 16, 0);
    for (int f = std::max(mid - 2, fmin); f <= std::min(mid + 2, fmax); ++f) {
        const float d = dsuper * f;
        if (d == 0.0f) continue;
        int8_t l[16];
        float err = 0;
        for (int i = 0; i < 16; ++i) {
            l[i] = static_cast<int8_t>(std::clamp(nearest(x[i] / d), lmin, lmax));
            err += weight(w, i) * (d * l[i] - x[i]) * (d * l[i] - x[i]);
        }
        if (err < best_err) {
            best_err = err, best = f;
            std::copy_n(l, 16, levels);
        }
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
        const float d = signed_max(x, QK4_0) / -8.0f;
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

// Levels 0..15 (or 0..31) of a block of 32 into Q4_0's nibble order, and their fifth bits into
// qh (nullptr: a four-bit type).
void pack_levels32(const int* q, uint8_t* qs, uint8_t* qh) {
    for (size_t i = 0; i < QK4_0 / 2; ++i) qs[i] = static_cast<uint8_t>((q[i] & 0xF) | (q[i + 16] & 0xF) << 4);
    if (qh == nullptr) return;
    std::memset(qh, 0, 4);
    for (size_t i = 0; i < QK4_0; ++i) qh[i / 8] |= static_cast<uint8_t>((q[i] >> 4) << (i % 8));
}

// A block's qh, or nullptr for the types without one.
template <class Block>
uint8_t* fifth_bits(Block& b) {
    if constexpr (requires { b.qh; }) return b.qh;
    else return nullptr;
}

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
        pack_levels32(q, y[b].qs, fifth_bits(y[b]));
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
        const float d = signed_max(x, QK4_0) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        int q[QK4_0];
        for (size_t i = 0; i < QK4_0; ++i) q[i] = std::min(31, static_cast<int>(x[i] * id + 16.5f));
        pack_levels32(q, y[b].qs, y[b].qh);
    }
}

// With an importance matrix, the legacy types fit their scale (and Q4_1/Q5_1 their min) by
// weighted least squares instead of ggml's reference rounding.
namespace {

template <class Block, int nmax>
void quantize_symmetric_weighted(const float* x, Block* y, size_t n, const float* importance) {
    for (size_t b = 0; b < n / QK4_0; ++b, x += QK4_0) {
        const float* w = importance + b * QK4_0;
        y[b].d = f32_to_f16(fit_scale_symmetric(x, QK4_0, nmax, w));
        const float d = f16_to_f32(y[b].d), id = d != 0.0f ? 1.0f / d : 0.0f;
        int q[QK4_0];
        for (size_t i = 0; i < QK4_0; ++i) q[i] = std::clamp(nearest(x[i] * id), -nmax, nmax - 1) + nmax;
        pack_levels32(q, y[b].qs, fifth_bits(y[b]));
    }
}

template <class Block, int nmax>
void quantize_affine_weighted(const float* x, Block* y, size_t n, const float* importance) {
    for (size_t b = 0; b < n / QK4_0; ++b, x += QK4_0) {
        uint8_t L[QK4_0];
        float neg_min;
        const float scale = fit_scale_min(x, QK4_0, nmax, L, &neg_min, importance + b * QK4_0);
        y[b].d = f32_to_f16(scale);
        y[b].m = f32_to_f16(-neg_min);
        const float d = f16_to_f32(y[b].d), m = f16_to_f32(y[b].m), id = d != 0.0f ? 1.0f / d : 0.0f;
        int q[QK4_0];
        for (size_t i = 0; i < QK4_0; ++i) q[i] = std::clamp(nearest((x[i] - m) * id), 0, nmax);
        pack_levels32(q, y[b].qs, fifth_bits(y[b]));
    }
}

}  // namespace

// Block by block, the weighted fit or ggml's reference rounding, whichever errs less by the
// weights: the importance matrix never makes a block worse.
template <class Block, void (*reference)(const float*, Block*, size_t), void (*weighted)(const float*, Block*, size_t, const float*),
          void (*decode)(const Block*, float*, size_t)>
void quantize_legacy_weighted(const float* x, Block* y, size_t n, const float* importance) {
    if (importance == nullptr) return reference(x, y, n);
    for (size_t b = 0; b < n / QK4_0; ++b) {
        const float* xb = x + b * QK4_0;
        const float* w = importance + b * QK4_0;
        Block fit, plain;
        weighted(xb, &fit, QK4_0, w);
        reference(xb, &plain, QK4_0);
        float yf[QK4_0], yp[QK4_0];
        decode(&fit, yf, QK4_0);
        decode(&plain, yp, QK4_0);
        double ef = 0, ep = 0;
        for (size_t i = 0; i < QK4_0; ++i) {
            ef += double(w[i]) * (yf[i] - xb[i]) * (yf[i] - xb[i]);
            ep += double(w[i]) * (yp[i] - xb[i]) * (yp[i] - xb[i]);
        }
        y[b] = ef < ep ? fit : plain;
    }
}

void quantize_row_q4_0(const float* x, BlockQ4_0* y, size_t n, const float* importance) {
    quantize_legacy_weighted<BlockQ4_0, quantize_row_q4_0, quantize_symmetric_weighted<BlockQ4_0, 8>, dequantize_row_q4_0>(x, y, n, importance);
}
void quantize_row_q5_0(const float* x, BlockQ5_0* y, size_t n, const float* importance) {
    quantize_legacy_weighted<BlockQ5_0, quantize_row_q5_0, quantize_symmetric_weighted<BlockQ5_0, 16>, dequantize_row_q5_0>(x, y, n, importance);
}
void quantize_row_q4_1(const float* x, BlockQ4_1* y, size_t n, const float* importance) {
    quantize_legacy_weighted<BlockQ4_1, quantize_row_q4_1, quantize_affine_weighted<BlockQ4_1, 15>, dequantize_row_q4_1>(x, y, n, importance);
}
void quantize_row_q5_1(const float* x, BlockQ5_1* y, size_t n, const float* importance) {
    quantize_legacy_weighted<BlockQ5_1, quantize_row_q5_1, quantize_affine_weighted<BlockQ5_1, 31>, dequantize_row_q5_1>(x, y, n, importance);
}

void quantize_row_iq4_nl(const float* x, BlockIQ4_NL* y, size_t n) { quantize_row_iq4_nl(x, y, n, nullptr); }
void quantize_row_iq4_xs(const float* x, BlockIQ4_XS* y, size_t n) { quantize_row_iq4_xs(x, y, n, nullptr); }
void quantize_row_q2_K(const float* x, BlockQ2_K* y, size_t n) { quantize_row_q2_K(x, y, n, nullptr); }
void quantize_row_q3_K(const float* x, BlockQ3_K* y, size_t n) { quantize_row_q3_K(x, y, n, nullptr); }
void quantize_row_q4_K(const float* x, BlockQ4_K* y, size_t n) { quantize_row_q4_K(x, y, n, nullptr); }
void quantize_row_q5_K(const float* x, BlockQ5_K* y, size_t n) { quantize_row_q5_K(x, y, n, nullptr); }
void quantize_row_q6_K(const float* x, BlockQ6_K* y, size_t n) { quantize_row_q6_K(x, y, n, nullptr); }

namespace {

// The codebook entry nearest v (ties to the lower), by binary search over the sorted values.
int nearest_iq4nl(float v) {
    if (v <= kIq4nlValues[0]) return 0;
    if (v >= kIq4nlValues[15]) return 15;
    int lo = 0, hi = 15;  // kIq4nlValues[lo] < v <= kIq4nlValues[hi]
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        (v > kIq4nlValues[mid] ? lo : hi) = mid;
    }
    return v - kIq4nlValues[lo] <= kIq4nlValues[hi] - v ? lo : hi;
}

}  // namespace

namespace {

// The levels l (one per element, 0..3 low bits and the rest above) of a Q2_K/Q3_K super-block
// into its qs: element 128 h + 32 j + i in bits 2j of qs[32 h + i].
void pack_low2(const uint8_t* l, uint8_t* qs) {
    std::memset(qs, 0, QK_K / 4);
    for (size_t e = 0; e < QK_K; ++e) qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((l[e] & 3) << (2 * (e % 128 / 32)));
}

// Levels of one block of 32 at scale d (the nearest codebook entries to x / d) and their
// squared error.
float iq4_levels(const float* x, float d, int* q, const float* w) {
    float err = 0;
    for (size_t i = 0; i < 32; ++i) {
        q[i] = d != 0.0f ? nearest_iq4nl(x[i] / d) : 0;
        const float v = d * kIq4nlValues[q[i]] - x[i];
        err += weight(w, i) * v * v;
    }
    return err;
}

// The scale of least squared error for one block of 32 on the IQ4_NL codebook, among 15
// candidates that put the value of largest magnitude at or near the codebook's end: levels
// nearest x / d and d refitted to them by least squares, scored by the error that leaves
// (sum x^2 - sxq^2 / sqq, so one pass each). Rounded to f16 when to_f16 (IQ4_NL stores it so;
// IQ4_XS stores 6-bit multiples of a super-block scale instead).
float iq4_block_scale(const float* x, bool to_f16, const float* w) {
    const float max = signed_max(x, 32);
    if (std::fabs(max) <= 1e-30f) return 0.0f;
    double best_score = -1.0;
    float best = 0.0f;
    for (int step = -7; step <= 7; ++step) {
        const float id = (kIq4nlValues[0] + step) / max;
        double sxq = 0, sqq = 0;
        for (size_t i = 0; i < 32; ++i) {
            const int v = kIq4nlValues[nearest_iq4nl(x[i] * id)];
            sxq += weight(w, i) * double(v) * x[i];
            sqq += weight(w, i) * double(v) * v;
        }
        if (sqq > 0 && sxq * sxq / sqq > best_score) best_score = sxq * sxq / sqq, best = static_cast<float>(sxq / sqq);
    }
    return to_f16 ? f16_to_f32(f32_to_f16(best)) : best;
}
}  // namespace

void q3_k_scales(const uint8_t packed[12], int8_t out[16]) {
    for (size_t s = 0; s < 16; ++s)
        out[s] = static_cast<int8_t>(((packed[s % 8] >> (4 * (s / 8))) & 0xF) | ((packed[8 + s % 4] >> (2 * (s / 4))) & 3) << 4);
}

void quantize_row_iq4_nl(const float* x, BlockIQ4_NL* y, size_t n, const float* importance) {
    for (size_t b = 0; b < n / QK4_0; ++b, x += QK4_0) {
        const float* w = importance != nullptr ? importance + b * QK4_0 : nullptr;
        y[b].d = f32_to_f16(iq4_block_scale(x, true, w));
        int q[QK4_0];
        iq4_levels(x, f16_to_f32(y[b].d), q, w);
        for (size_t i = 0; i < QK4_0 / 2; ++i) y[b].qs[i] = static_cast<uint8_t>(q[i] | q[i + 16] << 4);
    }
}

void quantize_row_iq4_xs(const float* x, BlockIQ4_XS* y, size_t n, const float* importance) {
    // Each sub-block's own best scale; the super-block scale puts the largest of them at -32;
    // each sub-block's 6-bit factor the nearest, or a neighbour that errs less at it.
    for (size_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        const float* w = importance != nullptr ? importance + b * QK_K : nullptr;
        const auto wb = [w](size_t ib) { return w != nullptr ? w + 32 * ib : nullptr; };
        float scales[8];
        for (size_t ib = 0; ib < 8; ++ib) scales[ib] = iq4_block_scale(x + 32 * ib, false, wb(ib));
        const float max_scale = signed_max(scales, 8);
        std::memset(&y[b], 0, sizeof y[b]);
        if (max_scale == 0.0f) {
            for (size_t ib = 0; ib < 8; ++ib) y[b].scales_l[ib / 2] |= static_cast<uint8_t>((32 & 0xF) << (4 * (ib % 2)));
            y[b].scales_h = 0xAAAA;  // every factor 32 - 32 = 0
            continue;
        }
        y[b].d = f32_to_f16(max_scale / -32.0f);
        const float d = f16_to_f32(y[b].d);
        for (size_t ib = 0; ib < 8; ++ib) {
            const int mid = d != 0.0f ? nearest(scales[ib] / d) : 0;
            float best_err = INFINITY;
            int best_l = 0, best_q[32] = {};
            for (int l = std::max(mid - 1, -32); l <= std::min(mid + 1, 31); ++l) {
                int q[32];
                const float err = iq4_levels(x + 32 * ib, d * l, q, wb(ib));
                if (err < best_err) {
                    best_err = err, best_l = l;
                    std::copy_n(q, 32, best_q);
                }
            }
            const int ls = best_l + 32;
            y[b].scales_l[ib / 2] |= static_cast<uint8_t>((ls & 0xF) << (4 * (ib % 2)));
            y[b].scales_h |= static_cast<uint16_t>((ls >> 4) << (2 * ib));
            for (size_t i = 0; i < 16; ++i) y[b].qs[16 * ib + i] = static_cast<uint8_t>(best_q[i] | best_q[i + 16] << 4);
        }
    }
}

void dequantize_row_iq4_xs(const BlockIQ4_XS* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK_K; ++b) {
        const float d = f16_to_f32(x[b].d);
        for (size_t ib = 0; ib < 8; ++ib, y += 32) {
            const float dl = d * (iq4_xs_scale(x[b], ib) - 32);
            for (size_t i = 0; i < 32; ++i) y[i] = dl * kIq4nlValues[nibble(x[b].qs + 16 * ib, i)];
        }
    }
}

void quantize_row_q2_K(const float* x, BlockQ2_K* y, size_t n, const float* importance) {
    // Per group of 16 a fitted scale and min (fit_scale_min, levels 0..3); both in 4 bits of
    // the super-block's d and dmin; each group's pair the nearest, or neighbours that err less.
    for (size_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        const float* w = importance != nullptr ? importance + b * QK_K : nullptr;
        float sc[16], mn[16], max_scale = 0, max_min = 0;
        uint8_t L[QK_K];
        for (size_t g = 0; g < 16; ++g) {
            sc[g] = fit_scale_min(x + 16 * g, 16, 3, L + 16 * g, &mn[g], w != nullptr ? w + 16 * g : nullptr);
            max_scale = std::max(max_scale, sc[g]);
            max_min = std::max(max_min, mn[g]);
        }
        y[b].d = f32_to_f16(max_scale / 15.0f);
        y[b].dmin = f32_to_f16(max_min / 15.0f);
        const float dq = f16_to_f32(y[b].d), mq = f16_to_f32(y[b].dmin);
        for (size_t g = 0; g < 16; ++g) {
            const int s0 = dq > 0 ? std::min(15, nearest(sc[g] / dq)) : 0, m0 = mq > 0 ? std::min(15, nearest(mn[g] / mq)) : 0;
            const float* xg = x + 16 * g;
            const float* wg = w != nullptr ? w + 16 * g : nullptr;
            float best_err = INFINITY;
            for (int s_ = std::max(s0 - 1, 0); s_ <= std::min(s0 + 1, 15); ++s_)
                for (int m = std::max(m0 - 1, 0); m <= std::min(m0 + 1, 15); ++m) {
                    const float d = dq * s_, dm = mq * m;
                    uint8_t l[16];
                    float err = 0;
                    for (int i = 0; i < 16; ++i) {
                        l[i] = d == 0.0f ? 0 : static_cast<uint8_t>(std::clamp(nearest((xg[i] + dm) / d), 0, 3));
                        err += weight(wg, i) * (d * l[i] - dm - xg[i]) * (d * l[i] - dm - xg[i]);
                    }
                    if (err < best_err) {
                        best_err = err;
                        y[b].scales[g] = static_cast<uint8_t>(s_ | m << 4);
                        std::copy_n(l, 16, L + 16 * g);
                    }
                }
        }
        pack_low2(L, y[b].qs);
    }
}

void dequantize_row_q2_K(const BlockQ2_K* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK_K; ++b, y += QK_K) {
        const float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
        for (size_t e = 0; e < QK_K; ++e) {
            const uint8_t sc = x[b].scales[e / 16];
            y[e] = d * (sc & 0xF) * k_low2(x[b].qs, e) - dmin * (sc >> 4);
        }
    }
}

void quantize_row_q3_K(const float* x, BlockQ3_K* y, size_t n, const float* importance) {
    // As Q6_K with levels -4..3 and 6-bit group factors -32..31.
    for (size_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        const float* w = importance != nullptr ? importance + b * QK_K : nullptr;
        const auto wg = [w](size_t g) { return w != nullptr ? w + 16 * g : nullptr; };
        float scales[16];
        for (size_t g = 0; g < 16; ++g) scales[g] = fit_scale_symmetric(x + 16 * g, 16, 4, wg(g));
        const float max_scale = signed_max(scales, 16);
        std::memset(&y[b], 0, sizeof y[b]);
        int8_t factor[16] = {}, q[QK_K] = {};
        if (max_scale != 0.0f) {
            y[b].d = f32_to_f16(max_scale / -32.0f);
            const float dsuper = f16_to_f32(y[b].d);
            for (size_t g = 0; g < 16; ++g) {
                const int mid = dsuper != 0.0f ? nearest(scales[g] / dsuper) : 0;
                factor[g] = static_cast<int8_t>(best_group_factor(x + 16 * g, dsuper, mid, -32, 31, -4, 3, q + 16 * g, wg(g)));
            }
        }
        uint8_t L[QK_K];
        for (size_t e = 0; e < QK_K; ++e) L[e] = static_cast<uint8_t>(q[e] + 4);
        for (size_t s_ = 0; s_ < 16; ++s_) {
            const int v = factor[s_] + 32;
            y[b].scales[s_ % 8] |= static_cast<uint8_t>((v & 0xF) << (4 * (s_ / 8)));
            y[b].scales[8 + s_ % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (s_ / 4)));
        }
        pack_low2(L, y[b].qs);
        for (size_t e = 0; e < QK_K; ++e)
            y[b].hmask[e % 32] |= static_cast<uint8_t>((L[e] >> 2) << (4 * (e / 128) + e % 128 / 32));
    }
}

void dequantize_row_q3_K(const BlockQ3_K* x, float* y, size_t n) {
    for (size_t b = 0; b < n / QK_K; ++b, y += QK_K) {
        const float d = f16_to_f32(x[b].d);
        int8_t sc[16];
        q3_k_scales(x[b].scales, sc);
        for (size_t e = 0; e < QK_K; ++e)
            y[e] = d * (sc[e / 16] - 32) * ((k_low2(x[b].qs, e) | q3_k_high(x[b], e) << 2) - 4);
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

void quantize_row_q4_K(const float* x, BlockQ4_K* y, size_t n, const float* importance) {
    uint8_t L[QK_K];
    for (size_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        quantize_k_superblock(x, 15, y[b].d, y[b].dmin, y[b].scales, L, importance != nullptr ? importance + b * QK_K : nullptr);
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

void quantize_row_q5_K(const float* x, BlockQ5_K* y, size_t n, const float* importance) {
    uint8_t L[QK_K];
    for (size_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        quantize_k_superblock(x, 31, y[b].d, y[b].dmin, y[b].scales, L, importance != nullptr ? importance + b * QK_K : nullptr);
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

void quantize_row_q6_K(const float* x, BlockQ6_K* y, size_t n, const float* importance) {
    for (size_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        const float* w = importance != nullptr ? importance + b * QK_K : nullptr;
        const auto ws = [w](int s) { return w != nullptr ? w + 16 * s : nullptr; };
        float scales[16];
        for (int s = 0; s < 16; ++s) scales[s] = fit_scale_symmetric(x + 16 * s, 16, 32, ws(s));
        const float max_scale = signed_max(scales, 16);
        std::memset(&y[b], 0, sizeof y[b]);
        int8_t L[QK_K] = {};
        if (max_scale != 0.0f) {
            const float iscale = -128.0f / max_scale;
            y[b].d = f32_to_f16(1.0f / iscale);
            // Each sub-block's integer scale: the nearest to its fitted scale, or a neighbour
            // when that quantizes the sub-block with less error at the stored super-scale.
            for (int s = 0; s < 16; ++s)
                y[b].scales[s] = static_cast<int8_t>(best_group_factor(x + 16 * s, f16_to_f32(y[b].d), nearest(iscale * scales[s]),
                                                                       -128, 127, -32, 31, L + 16 * s, ws(s)));
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

void quantize_row(DType type, const float* x, void* y, size_t n, const float* importance) {
    const TypeTraits& t = traits(type);
    if (importance != nullptr && t.from_float_weighted != nullptr) t.from_float_weighted(x, y, n, importance);
    else t.from_float(x, y, n);
}

void quantize_row(Isa isa, DType type, const float* x, void* y, size_t n) {
    const TypeTraits& t = traits(type);
    (has_avx512(isa) && t.from_float_avx512 != nullptr ? t.from_float_avx512 : t.from_float)(x, y, n);
}

void dequantize_row(DType type, const void* x, float* y, size_t n) { traits(type).to_float(x, y, n); }

void convert_rows(DType from, const void* src, DType to, void* dst, size_t n_rows, size_t n, int n_threads,
                  const float* importance, size_t rows_per_importance) {

    const size_t in_bytes = row_bytes(*type_info(static_cast<uint32_t>(from)), n);
    const size_t out_bytes = row_bytes(*type_info(static_cast<uint32_t>(to)), n);
#pragma omp parallel num_threads(n_threads)
    {
        std::vector<float> row(n);
#pragma omp for schedule(dynamic, 16)
        for (size_t r = 0; r < n_rows; ++r) {
            dequantize_row(from, static_cast<const uint8_t*>(src) + r * in_bytes, row.data(), n);
            quantize_row(to, row.data(), static_cast<uint8_t*>(dst) + r * out_bytes, n,
                         importance != nullptr ? importance + r / rows_per_importance * n : nullptr);
        }
    }
}

}  // namespace kiln
