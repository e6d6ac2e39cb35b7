// Element-wise and per-row operations of the transformer block, over plain float arrays.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu.h"

namespace kiln {

// out = x / rms(x) * weight, for one row of n.
void rmsnorm(float* out, const float* x, const float* weight, size_t n, float eps);

// The rotation of position pos: cs[2i] and cs[2i + 1] the cosine and sine of
// pos * freq_scale * freq_base^(-2i/rot_dim) / freq_factors[i], times mscale, for the
// rot_dim / 2 pairs. freq_factors (rot_dim / 2 values, or nullptr): per-pair divisors of the
// frequency (Llama 3.1, Phi-3's LongRoPE); mscale: LongRoPE's attention factor (else 1).
void rope_table(int64_t pos, size_t rot_dim, float freq_base, float freq_scale, const float* freq_factors, float mscale,
                float* cs);

// Rotates consecutive pairs (x[2i], x[2i+1]) of the first rot_dim elements of each head by the
// angles of cs (rope_table): the pair layout GGUF files use for Llama Q and K.
void rope(float* x, size_t n_heads, size_t head_dim, size_t rot_dim, const float* cs);

// The same for the pairs (x[i], x[i + rot_dim / 2]) (GPT-NeoX's layout: Qwen, Gemma, Phi-3).
void rope_neox(float* x, size_t n_heads, size_t head_dim, size_t rot_dim, const float* cs);

// gate[i] = silu(gate[i]) * up[i], split over up to n_threads when n is large; with AVX-512
// (isa avx512 or amx) through a polynomial e^x, within a few ulp of the scalar reference.
void swiglu(Isa isa, float* gate, const float* up, size_t n, int n_threads = 1);

// gate[i] = gelu(gate[i]) * up[i] with GELU's tanh form, 0.5 x (1 + tanh(sqrt(2/pi) (x +
// 0.044715 x^3))); threads and ISA as swiglu.
void geglu(Isa isa, float* gate, const float* up, size_t n, int n_threads = 1);

// x[i] += y[i]
void add(float* x, const float* y, size_t n);

}  // namespace kiln
