// Causal multi-head attention with grouped KV heads over a KV cache in F32, F16 or Q8_0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernels/cpu.h"
#include "kernels/types.h"

namespace kiln {

struct AttentionShape {
    size_t n_head;        // query heads
    size_t n_kv_head;     // KV heads; each serves n_head / n_kv_head query heads
    size_t head_dim;
    DType kv_type;        // F32, F16, or Q8_0 when head_dim is a multiple of 32
    size_t pos_stride;    // bytes between consecutive positions of a KV head in k and v
    size_t head_stride;   // bytes between KV heads
    float scale = 0.0f;   // scores are q.k * scale; 0: 1 / sqrt(head_dim)
    size_t window = 0;    // a query at pos sees positions (pos - window, pos]; 0: all up to pos
    size_t ring = 0;      // the cache holds position p at p % ring (a multiple of ring_positions'
                          // rounding, see below); 0: at p
};

// Whether a KV cache of this type can hold heads of head_dim elements.
bool kv_type_fits(DType type, size_t head_dim);

// Positions a ring cache needs so that queries of a sliding window, up to n_tokens of them
// written to the cache before they attend, never find a position they see overwritten: at
// least window + n_tokens - 1, rounded up to the kernel's block of positions (so that no
// block wraps).
size_t ring_positions(size_t window, size_t n_tokens);

// One sequence's queries: n_tokens rows q[t] (n_head * head_dim floats, ldq apart) at
// positions first_pos + t, each attending over cache positions [0, first_pos + t] of k and v
// (or the shape's window of them)
// and writing n_head * head_dim floats to out[t * ldo].
struct AttentionSeq {
    const float* q;
    size_t n_tokens;
    size_t first_pos;
    const uint8_t* k;
    const uint8_t* v;
    float* out;
};

// Floats of scratch attention() needs for n_threads.
size_t attention_scratch_floats(const AttentionShape& shape, int n_threads);

// Every sequence's queries in one parallel pass. Each KV head is read once per tile of
// queries (the heads of its group for several tokens), in blocks of positions with an online
// softmax (flash attention). A query's result depends only on its own row, position and
// cache, never on the tile or thread that computes it.
void attention(Isa isa, const AttentionShape& shape, std::span<const AttentionSeq> seqs, size_t ldq, size_t ldo,
               float* scratch, int n_threads);

}  // namespace kiln
