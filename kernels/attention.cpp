#include "kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace kiln {

void attention(const AttentionShape& s, std::span<const AttentionSeq> seqs, size_t ldq, size_t ldo, float* scratch,
               int n_threads) {
    const size_t group = s.n_head / s.n_kv_head;
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    // Items are (sequence, token, head), numbered sequence by sequence.
    size_t n_items = 0, max_pos = 0, work = 0;
    for (const AttentionSeq& a : seqs) {
        n_items += a.n_tokens * s.n_head;
        max_pos = std::max(max_pos, a.first_pos + a.n_tokens);
        work += a.n_tokens * s.n_head * (a.first_pos + a.n_tokens) * s.head_dim;
    }
    const bool big = work >= (size_t{1} << 14);
#pragma omp parallel num_threads(n_threads) if (big && n_threads > 1)
    {
        float* scores = scratch + static_cast<size_t>(omp_get_thread_num()) * max_pos;
        // A static schedule hands each thread increasing items, so its sequence only moves on.
        size_t seq = 0, seq_first = 0;
#pragma omp for schedule(static)
        for (size_t item = 0; item < n_items; ++item) {
            while (item >= seq_first + seqs[seq].n_tokens * s.n_head) seq_first += seqs[seq++].n_tokens * s.n_head;
            const AttentionSeq& a = seqs[seq];
            const size_t local = item - seq_first;
            const size_t t = local / s.n_head, h = local % s.n_head;
            const size_t kv_off = (h / group) * s.head_dim;
            const float* qh = a.q + t * ldq + h * s.head_dim;
            const size_t n_pos = a.first_pos + t + 1;
            float max_score = -INFINITY;
            for (size_t p = 0; p < n_pos; ++p) {
                const float* kp = a.k + p * s.kv_stride + kv_off;
                float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                for (size_t d = 0; d < s.head_dim; ++d) dot += qh[d] * kp[d];
                scores[p] = dot * scale;
                if (scores[p] > max_score) max_score = scores[p];
            }
            float sum = 0.0f;
            for (size_t p = 0; p < n_pos; ++p) {
                scores[p] = std::exp(scores[p] - max_score);
                sum += scores[p];
            }
            float* oh = a.out + t * ldo + h * s.head_dim;
            std::memset(oh, 0, s.head_dim * sizeof(float));
            const float inv = 1.0f / sum;
            for (size_t p = 0; p < n_pos; ++p) {
                const float* vp = a.v + p * s.kv_stride + kv_off;
                const float w = scores[p] * inv;
#pragma omp simd
                for (size_t d = 0; d < s.head_dim; ++d) oh[d] += w * vp[d];
            }
        }
    }
}

}  // namespace kiln
