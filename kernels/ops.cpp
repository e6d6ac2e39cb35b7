#include "kernels/ops.h"

#include <cmath>

namespace kiln {

void rmsnorm(float* out, const float* x, const float* weight, size_t n, float eps) {
    // Sum of squares in double: cheap for one row, and keeps long rows from drifting.
    double ss = 0.0;
    for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
    for (size_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void rope(float* x, size_t n_heads, size_t head_dim, size_t rot_dim, int64_t pos, float freq_base,
          const float* freq_factors) {
    for (size_t i = 0; i < rot_dim; i += 2) {
        double freq = std::pow(static_cast<double>(freq_base), -static_cast<double>(i) / rot_dim);
        if (freq_factors != nullptr) freq /= freq_factors[i / 2];
        const double angle = static_cast<double>(pos) * freq;
        const float c = static_cast<float>(std::cos(angle));
        const float s = static_cast<float>(std::sin(angle));
        for (size_t h = 0; h < n_heads; ++h) {
            float* p = x + h * head_dim + i;
            const float a = p[0], b = p[1];
            p[0] = a * c - b * s;
            p[1] = a * s + b * c;
        }
    }
}

void swiglu(float* gate, const float* up, size_t n, int n_threads) {
#pragma omp parallel for num_threads(n_threads) schedule(static) if (n >= 32768 && n_threads > 1)
    for (size_t i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void add(float* x, const float* y, size_t n) {
    for (size_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace kiln
