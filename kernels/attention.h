// Causal multi-head attention with grouped KV heads over a float KV cache.
#pragma once

#include <cstddef>

namespace kiln {

struct AttentionShape {
    size_t n_head;      // query heads
    size_t n_kv_head;   // KV heads; each serves n_head / n_kv_head query heads
    size_t head_dim;
    size_t kv_stride;   // floats between consecutive positions in k and v
};

// For each of n_tokens queries q[t] (n_head * head_dim floats, rows ldq apart) at position
// first_pos + t, attends over cache positions [0, first_pos + t] and writes
// n_head * head_dim floats to out[t * ldo]. scratch holds n_threads * (first_pos + n_tokens) floats.
void attention(const AttentionShape& shape, const float* q, size_t ldq, size_t n_tokens, size_t first_pos,
               const float* k, const float* v, float* out, size_t ldo, float* scratch, int n_threads);

}  // namespace kiln
