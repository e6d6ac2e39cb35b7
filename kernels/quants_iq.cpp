#include "kernels/quants_iq.h"

namespace kiln {

namespace {

template <class F>
void dequantize(const typename F::Block* x, float* y, size_t n) {
    for (size_t b = 0; b < n / 256; ++b) {
        const float d = iq::factor<F>(x[b]);
        for (int ib = 0; ib < 8; ++ib, y += 32) {
            int8_t q[32];
            int s[2];
            iq::levels<F>(x[b], ib, q);
            F::scales(x[b], ib, s);
            for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(s[j / 16]) * q[j];
        }
    }
}

}  // namespace

void dequantize_row_iq2_xxs(const BlockIQ2_XXS* x, float* y, size_t n) { dequantize<iq::Iq2xxs>(x, y, n); }
void dequantize_row_iq2_xs(const BlockIQ2_XS* x, float* y, size_t n) { dequantize<iq::Iq2xs>(x, y, n); }
void dequantize_row_iq2_s(const BlockIQ2_S* x, float* y, size_t n) { dequantize<iq::Iq2s>(x, y, n); }
void dequantize_row_iq3_xxs(const BlockIQ3_XXS* x, float* y, size_t n) { dequantize<iq::Iq3xxs>(x, y, n); }
void dequantize_row_iq3_s(const BlockIQ3_S* x, float* y, size_t n) { dequantize<iq::Iq3s>(x, y, n); }
void dequantize_row_iq1_s(const BlockIQ1_S* x, float* y, size_t n) { dequantize<iq::Iq1s>(x, y, n); }
void dequantize_row_iq1_m(const BlockIQ1_M* x, float* y, size_t n) { dequantize<iq::Iq1m>(x, y, n); }

}  // namespace kiln
