// Quantizers of the codebook formats of kernels/quants_iq.h. importance: a weight per element
// of the row (an importance matrix's column means), or nullptr for plain least squares.
#pragma once

#include <cstddef>

#include "kernels/quants_iq.h"

namespace kiln {

void quantize_row_iq2_xxs(const float* x, BlockIQ2_XXS* y, size_t n, const float* importance);
void quantize_row_iq2_xs(const float* x, BlockIQ2_XS* y, size_t n, const float* importance);
void quantize_row_iq2_s(const float* x, BlockIQ2_S* y, size_t n, const float* importance);
void quantize_row_iq3_xxs(const float* x, BlockIQ3_XXS* y, size_t n, const float* importance);
void quantize_row_iq3_s(const float* x, BlockIQ3_S* y, size_t n, const float* importance);
void quantize_row_iq1_s(const float* x, BlockIQ1_S* y, size_t n, const float* importance);
void quantize_row_iq1_m(const float* x, BlockIQ1_M* y, size_t n, const float* importance);

}  // namespace kiln
