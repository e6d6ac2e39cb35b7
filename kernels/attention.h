// Causal multi-head attention with grouped KV heads over a float KV cache.
#pragma once

#include <cstddef>
#include <span>

namespace kiln {

struct AttentionShape {
    size_t n_head;      // query heads
    size_t n_kv_head;   // KV heads; each serves n_head / n_kv_head query heads
    size_t head_dim;
    size_t kv_stride;   // floats between consecutive positions in k and v
};

// One sequence's queries: n_tokens rows q[t] (n_head * head_dim floats, ldq apart) at
// positions first_pos + t, each attending over cache positions [0, first_pos + t] of k and v
// and writing n_head * head_dim floats to out[t * ldo].
struct AttentionSeq {
    const float* q;
    size_t n_tokens;
    size_t first_pos;
    const float* k;
    const float* v;
    float* out;
};

// Every sequence's queries in one parallel pass. scratch holds n_threads * (the largest
// first_pos + n_tokens) floats. A query's result does not depend on the others.
void attention(const AttentionShape& shape, std::span<const AttentionSeq> seqs, size_t ldq, size_t ldo, float* scratch,
               int n_threads);

}  // namespace kiln
