// Flash-style attention: for a tile of query rows (the query heads of one KV head's group, for
// several tokens of one sequence), the KV cache is read in blocks of kBlock positions, each
// block converted to float once (keys transposed, so that scores vectorize across positions)
// and used by every row of the tile; each row keeps a running maximum, sum and output (online
// softmax). Blocks start at multiples of kBlock, so a row sees the same blocks, in the same
// order, whatever tile it is in: results do not depend on batching or threads.
#include "kernels/attention.h"
#include "kernels/targets.h"

#include <immintrin.h>

// GCC 12 warns falsely inside its own AVX-512 headers (_mm512_undefined_*).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/exp_avx512.h"
#include "kernels/quants.h"

namespace kiln {

namespace {

constexpr size_t kBlock = 64;    // positions per block
constexpr size_t kMaxRows = 64;  // query rows per tile (when the group allows)
constexpr size_t kAlign = 16;    // floats in a cache line
constexpr int kRowsTogether = 4;  // rows of one token that share the block's loads

size_t group_of(const AttentionShape& s) { return s.n_head / s.n_kv_head; }
size_t tokens_per_tile(const AttentionShape& s) { return std::max<size_t>(1, kMaxRows / group_of(s)); }
size_t rows_per_tile(const AttentionShape& s) { return tokens_per_tile(s) * group_of(s); }

size_t scratch_per_thread(const AttentionShape& s) {
    const size_t hd = s.head_dim, rows = rows_per_tile(s);
    const size_t n = 3 * hd * kBlock + kRowsTogether * kBlock + 2 * rows + rows * hd;
    return (n + kAlign - 1) / kAlign * kAlign;
}

// One thread's buffers: the block's keys transposed (kt[d * kBlock + p]) and values (v[p * hd
// + d]), the scores of up to kRowsTogether rows, per tile row the running max m, sum l and
// output o, and the block's keys as rows (before the transposition).
struct Work {
    float *kt, *v, *s, *m, *l, *o, *row;
};

Work work_at(float* base, const AttentionShape& sh) {
    const size_t hd = sh.head_dim, rows = rows_per_tile(sh);
    Work w;
    w.kt = base;
    w.v = w.kt + hd * kBlock;
    w.s = w.v + hd * kBlock;
    w.m = w.s + kRowsTogether * kBlock;
    w.l = w.m + rows;
    w.o = w.l + rows;
    w.row = w.o + rows * hd;
    return w;
}

// count rows of n elements, src_stride bytes apart, to floats n apart.
using ToFloatFn = void (*)(const uint8_t* src, size_t src_stride, size_t count, float* dst, size_t n, DType type);
// Keys as rows (rows[p * hd + d], np of them) to kt[d * kBlock + p], zero for p >= np.
using TransposeFn = void (*)(const float* rows, size_t np, size_t hd, float* kt);
// The same straight from np cache rows, src_stride bytes apart.
using KeysFn = void (*)(const uint8_t* src, size_t src_stride, size_t np, size_t hd, float* kt);
// n_rows rows of one token (queries q + r * hd, outputs o + r * hd, running m[r] and l[r])
// against the block: valid keys lo .. nv - 1, scores scaled by scale.
using RowsFn = void (*)(const float* q, size_t n_rows, size_t lo, size_t nv, size_t hd, float scale, const Work& w, float* o,
                        float* m, float* l);

void to_float_generic(const uint8_t* src, size_t src_stride, size_t count, float* dst, size_t n, DType type) {
    for (size_t r = 0; r < count; ++r) dequantize_row(type, src + r * src_stride, dst + r * n, n);
}

void transpose_generic(const float* rows, size_t np, size_t hd, float* kt) {
    for (size_t p = 0; p < np; ++p)
        for (size_t d = 0; d < hd; ++d) kt[d * kBlock + p] = rows[p * hd + d];
    for (size_t d = 0; d < hd; ++d) std::fill(kt + d * kBlock + np, kt + (d + 1) * kBlock, 0.0f);
}

// The scalar reference.
void row_scalar(const float* q, size_t lo, size_t nv, size_t hd, float scale, const Work& w, float* o, float& m, float& l) {
    float* s = w.s;
    std::fill_n(s, nv, 0.0f);
    for (size_t d = 0; d < hd; ++d) {
        const float qd = q[d];
        const float* kd = w.kt + d * kBlock;
        for (size_t p = lo; p < nv; ++p) s[p] += qd * kd[p];
    }
    float block_max = -INFINITY;
    for (size_t p = lo; p < nv; ++p) block_max = std::max(block_max, s[p] *= scale);
    const float m_new = std::max(m, block_max);
    const float c = std::exp(m - m_new);  // 0 for the first block (m = -inf)
    float sum = 0.0f;
    for (size_t p = lo; p < nv; ++p) sum += (s[p] = std::exp(s[p] - m_new));
    l = l * c + sum;
    m = m_new;
    for (size_t d = 0; d < hd; ++d) o[d] *= c;
    for (size_t p = lo; p < nv; ++p) {
        const float sp = s[p];
        const float* vp = w.v + p * hd;
        for (size_t d = 0; d < hd; ++d) o[d] += sp * vp[d];
    }
}

void rows_scalar(const float* q, size_t n_rows, size_t lo, size_t nv, size_t hd, float scale, const Work& w, float* o, float* m,
                 float* l) {
    for (size_t r = 0; r < n_rows; ++r) row_scalar(q + r * hd, lo, nv, hd, scale, w, o + r * hd, m[r], l[r]);
}

KILN_BEGIN_TARGET(KILN_TARGET_AVX512)

void to_float_avx512(const uint8_t* src, size_t src_stride, size_t count, float* dst, size_t n, DType type) {
    if (type != DType::F16) return to_float_generic(src, src_stride, count, dst, n, type);
    for (size_t r = 0; r < count; ++r, src += src_stride, dst += n) {
        for (size_t off = 0; off < 2 * n; off += 64) _mm_prefetch(reinterpret_cast<const char*>(src + 8 * src_stride + off), _MM_HINT_T0);
        size_t i = 0;
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * i))));
        if (i < n) {
            const __mmask16 k = static_cast<__mmask16>((1u << (n - i)) - 1);
            _mm512_mask_storeu_ps(dst + i, k, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, src + 2 * i)));
        }
    }
}

__mmask16 lanes_below(size_t n, size_t first) {
    return n >= first + 16 ? __mmask16(0xFFFF) : n > first ? static_cast<__mmask16>((1u << (n - first)) - 1) : 0;
}

// Lanes first .. first + 15 that lie in [lo, n).
__mmask16 lanes_between(size_t lo, size_t n, size_t first) {
    return static_cast<__mmask16>(lanes_below(n, first) & ~lanes_below(lo, first));
}

// Stores the transpose of r[i] (16 rows of 16) as rows out + j * ld, j < n_out: unpack pairs
// of rows, gather columns within 128-bit lanes, then exchange the lanes four by four, each
// result stored as it is made (copying it back into r made GCC spill).
[[gnu::always_inline]] inline void transpose16_store(__m512 r[16], float* out, size_t ld, size_t n_out) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {  // r[i + c], lane l: column 4l + c of rows i .. i + 3
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    const auto store = [&](size_t j, __m512 v) {
        if (j < n_out) _mm512_storeu_ps(out + j * ld, v);
    };
    for (size_t c = 0; c < 4; ++c) {
        const __m512 u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
        const __m512 u2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44), u3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
        store(c, _mm512_shuffle_f32x4(u0, u2, 0x88));
        store(4 + c, _mm512_shuffle_f32x4(u0, u2, 0xDD));
        store(8 + c, _mm512_shuffle_f32x4(u1, u3, 0x88));
        store(12 + c, _mm512_shuffle_f32x4(u1, u3, 0xDD));
    }
}

// kt[d * kBlock + p] = row p's element d by 16 x 16 tiles in registers; load(p, d0, dims)
// gives elements d0.. of row p under the mask; rows past np are zeros.
template <class Load>
void transpose_tiles(size_t np, size_t hd, float* kt, Load load) {
    for (size_t d0 = 0; d0 < hd; d0 += 16) {
        const __mmask16 dims = lanes_below(hd, d0);
        for (size_t p0 = 0; p0 < kBlock; p0 += 16) {
            __m512 r[16];
            if (p0 >= np) {  // past the last position: zeros, no shuffles
                for (size_t j = 0; j < 16 && d0 + j < hd; ++j) _mm512_storeu_ps(kt + (d0 + j) * kBlock + p0, _mm512_setzero_ps());
                continue;
            }
            for (size_t i = 0; i < 16; ++i) r[i] = p0 + i < np ? load(p0 + i, d0, dims) : _mm512_setzero_ps();
            transpose16_store(r, kt + d0 * kBlock + p0, kBlock, std::min<size_t>(16, hd - d0));
        }
    }
}

void transpose_avx512(const float* rows, size_t np, size_t hd, float* kt) {
    transpose_tiles(np, hd, kt, [&](size_t p, size_t d0, __mmask16 dims) { return _mm512_maskz_loadu_ps(dims, rows + p * hd + d0); });
}

// F16 keys straight from the cache into the transposed block.
void keys_f16_avx512(const uint8_t* src, size_t src_stride, size_t np, size_t hd, float* kt) {
    transpose_tiles(np, hd, kt, [&](size_t p, size_t d0, __mmask16 dims) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(dims, src + p * src_stride + 2 * d0));
    });
}

// R rows of one token (same nv) share each key and value load; per row the operations and
// their order are exactly those of one row alone, so grouping never changes a result.

// acc[r][j] = scores of row r (q + r * hd) against the block's positions 16j .. 16j + 15.
template <int R>
[[gnu::always_inline]] inline void scores_avx512(const float* q, size_t hd, const float* kt, __m512 (&acc)[R][4]) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_setzero_ps();
    for (size_t d = 0; d < hd; ++d) {
        const float* kd = kt + d * kBlock;
        __m512 k[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) k[j] = _mm512_loadu_ps(kd + 16 * j);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            const __m512 qd = _mm512_set1_ps(q[r * hd + d]);
#pragma GCC unroll 4
            for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_fmadd_ps(qd, k[j], acc[r][j]);
        }
    }
}

// Output rows (o + r * hd, 16 * kChunks floats at most) stay in registers while the block's
// values stream by; s holds row r's weights at s + r * kBlock, c[r] its rescale factor.
template <int kChunks, int R>
void accumulate_avx512(const float* s, size_t lo, size_t nv, size_t hd, const float* v, const float* c, float* o) {
    __m512 acc[R][kChunks];
    __mmask16 mask[kChunks];
#pragma GCC unroll 8
    for (int j = 0; j < kChunks; ++j) mask[j] = lanes_below(hd, 16 * j);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int j = 0; j < kChunks; ++j)
            acc[r][j] = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask[j], o + r * hd + 16 * j), _mm512_set1_ps(c[r]));
    for (size_t p = lo; p < nv; ++p) {
        const float* vp = v + p * hd;
        __m512 vj[kChunks];
#pragma GCC unroll 8
        for (int j = 0; j < kChunks; ++j) vj[j] = _mm512_maskz_loadu_ps(mask[j], vp + 16 * j);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            const __m512 sp = _mm512_set1_ps(s[r * kBlock + p]);
#pragma GCC unroll 8
            for (int j = 0; j < kChunks; ++j) acc[r][j] = _mm512_fmadd_ps(sp, vj[j], acc[r][j]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int j = 0; j < kChunks; ++j) _mm512_mask_storeu_ps(o + r * hd + 16 * j, mask[j], acc[r][j]);
}

template <int kChunks, int R>
void rows_r_avx512(const float* q, size_t lo, size_t nv, size_t hd, float scale, const Work& w, float* o, float* m, float* l) {
    static_assert(kBlock == 64);
    __m512 acc[R][4];
    scores_avx512<R>(q, hd, w.kt, acc);
    float c[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
        __m512 max = _mm512_set1_ps(-INFINITY);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
            acc[r][j] = _mm512_mul_ps(acc[r][j], _mm512_set1_ps(scale));
            max = _mm512_mask_max_ps(max, lanes_between(lo, nv, 16 * j), max, acc[r][j]);
        }
        const float m_new = std::max(m[r], _mm512_reduce_max_ps(max));
        c[r] = std::exp(m[r] - m_new);  // 0 for the first block (m = -inf)
        float sum = 0.0f;
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
            const __m512 e = _mm512_maskz_mov_ps(lanes_between(lo, nv, 16 * j), exp_avx512(_mm512_sub_ps(acc[r][j], _mm512_set1_ps(m_new))));
            _mm512_storeu_ps(w.s + r * kBlock + 16 * j, e);
            sum += _mm512_reduce_add_ps(e);
        }
        l[r] = l[r] * c[r] + sum;
        m[r] = m_new;
    }
    accumulate_avx512<kChunks, R>(w.s, lo, nv, hd, w.v, c, o);
}

// Rows that share each load: as many as keep the output rows in 16 registers.
template <int kChunks>
void rows_chunks_avx512(const float* q, size_t n_rows, size_t lo, size_t nv, size_t hd, float scale, const Work& w, float* o,
                        float* m, float* l) {
    constexpr int kMost = kChunks <= 4 ? 4 : kChunks <= 8 ? 2 : 1;
    static_assert(kMost <= kRowsTogether);
    size_t r = 0;
    for (; r + kMost <= n_rows; r += kMost)
        rows_r_avx512<kChunks, kMost>(q + r * hd, lo, nv, hd, scale, w, o + r * hd, m + r, l + r);
    for (; r < n_rows; ++r) rows_r_avx512<kChunks, 1>(q + r * hd, lo, nv, hd, scale, w, o + r * hd, m + r, l + r);
}

void rows_avx512(const float* q, size_t n_rows, size_t lo, size_t nv, size_t hd, float scale, const Work& w, float* o, float* m,
                 float* l) {
    switch ((hd + 15) / 16) {
        case 1: return rows_chunks_avx512<1>(q, n_rows, lo, nv, hd, scale, w, o, m, l);
        case 2: return rows_chunks_avx512<2>(q, n_rows, lo, nv, hd, scale, w, o, m, l);
        case 3: return rows_chunks_avx512<3>(q, n_rows, lo, nv, hd, scale, w, o, m, l);
        case 4: return rows_chunks_avx512<4>(q, n_rows, lo, nv, hd, scale, w, o, m, l);
        case 5: return rows_chunks_avx512<5>(q, n_rows, lo, nv, hd, scale, w, o, m, l);
        case 6: return rows_chunks_avx512<6>(q, n_rows, lo, nv, hd, scale, w, o, m, l);
        case 7: return rows_chunks_avx512<7>(q, n_rows, lo, nv, hd, scale, w, o, m, l);
        case 8: return rows_chunks_avx512<8>(q, n_rows, lo, nv, hd, scale, w, o, m, l);
        case 9: case 10: case 11: case 12: return rows_chunks_avx512<12>(q, n_rows, lo, nv, hd, scale, w, o, m, l);
        default: return rows_chunks_avx512<16>(q, n_rows, lo, nv, hd, scale, w, o, m, l);  // attention() keeps hd <= 256 here
    }
}

KILN_END_TARGET

// Block positions [b0, b0 + np) of KV head kvh into w: keys transposed, zero beyond np.
void load_block(const AttentionShape& sh, const AttentionSeq& a, size_t kvh, size_t b0, size_t np, const Work& w,
                ToFloatFn to_float, TransposeFn transpose, KeysFn keys) {
    const size_t hd = sh.head_dim;
    const size_t off = (sh.ring > 0 ? b0 % sh.ring : b0) * sh.pos_stride + kvh * sh.head_stride;
    to_float(a.v + off, sh.pos_stride, np, w.v, hd, sh.kv_type);
    if (keys != nullptr) return keys(a.k + off, sh.pos_stride, np, hd, w.kt);
    to_float(a.k + off, sh.pos_stride, np, w.row, hd, sh.kv_type);
    transpose(w.row, np, hd, w.kt);
}

}  // namespace

bool kv_type_fits(DType type, size_t head_dim) {
    return type == DType::F32 || type == DType::F16 || (type == DType::Q8_0 && head_dim % QK8_0 == 0);
}

size_t ring_positions(size_t window, size_t n_tokens) {
    return (window + n_tokens - 1 + kBlock - 1) / kBlock * kBlock;
}

size_t attention_scratch_floats(const AttentionShape& shape, int n_threads) {
    return static_cast<size_t>(std::max(n_threads, 1)) * scratch_per_thread(shape) + kAlign;
}

void attention(Isa isa, const AttentionShape& sh, std::span<const AttentionSeq> seqs, size_t ldq, size_t ldo,
               float* scratch, int n_threads) {
    const bool wide = has_avx512(isa);
    // The wide path keeps a row's output in at most 16 registers: heads of up to 256 (Gemma's).
    const RowsFn rows_fn = wide && sh.head_dim <= 256 ? rows_avx512 : rows_scalar;
    const ToFloatFn to_float = wide ? to_float_avx512 : to_float_generic;
    const TransposeFn transpose = wide ? transpose_avx512 : transpose_generic;
    const KeysFn keys = wide && sh.kv_type == DType::F16 ? keys_f16_avx512 : nullptr;
    const size_t group = group_of(sh), tpt = tokens_per_tile(sh), hd = sh.head_dim;
    const float scale = sh.scale > 0.0f ? sh.scale : 1.0f / std::sqrt(static_cast<float>(hd));
    // Items are (sequence, tile of tokens, KV head), numbered sequence by sequence.
    size_t n_items = 0, work = 0;
    for (const AttentionSeq& a : seqs) {
        n_items += (a.n_tokens + tpt - 1) / tpt * sh.n_kv_head;
        work += a.n_tokens * sh.n_head * (a.first_pos + a.n_tokens) * hd;
    }
    const bool big = work >= (size_t{1} << 14);
    // Each thread's blocks start on a cache line (scratch_per_thread is a multiple of kAlign).
    float* aligned = scratch + (kAlign - reinterpret_cast<uintptr_t>(scratch) / sizeof(float) % kAlign) % kAlign;
#pragma omp parallel num_threads(n_threads) if (big && n_threads > 1)
    {
        const Work w = work_at(aligned + static_cast<size_t>(omp_get_thread_num()) * scratch_per_thread(sh), sh);
#pragma omp for schedule(dynamic)
        for (size_t item = 0; item < n_items; ++item) {
            size_t seq = 0, first = 0;
            while (item >= first + (seqs[seq].n_tokens + tpt - 1) / tpt * sh.n_kv_head)
                first += (seqs[seq++].n_tokens + tpt - 1) / tpt * sh.n_kv_head;
            const AttentionSeq& a = seqs[seq];
            const size_t local = item - first, kvh = local % sh.n_kv_head, t0 = local / sh.n_kv_head * tpt;
            const size_t n_tok = std::min(tpt, a.n_tokens - t0), rows = n_tok * group;
            std::fill_n(w.m, rows, -INFINITY);
            std::fill_n(w.l, rows, 0.0f);
            std::fill_n(w.o, rows * hd, 0.0f);
            // The first position a query at pos sees.
            const auto first_seen = [&](size_t pos) { return sh.window > 0 && pos + 1 > sh.window ? pos + 1 - sh.window : 0; };
            const size_t end = a.first_pos + t0 + n_tok;  // one past the last position the tile sees
            for (size_t b0 = first_seen(a.first_pos + t0) / kBlock * kBlock; b0 < end; b0 += kBlock) {
                const size_t np = std::min(kBlock, end - b0);
                load_block(sh, a, kvh, b0, np, w, to_float, transpose, keys);
                for (size_t r = 0; r < rows; r += group) {  // a token's rows: its heads of the group
                    const size_t t = t0 + r / group, pos = a.first_pos + t, lo = first_seen(pos);
                    if (pos < b0 || lo >= b0 + np) continue;
                    const float* q = a.q + t * ldq + kvh * group * hd;
                    rows_fn(q, group, lo > b0 ? lo - b0 : 0, std::min(np, pos + 1 - b0), hd, scale, w, w.o + r * hd, w.m + r,
                            w.l + r);
                }
            }
            for (size_t r = 0; r < rows; ++r) {
                const size_t t = t0 + r / group;
                float* out = a.out + t * ldo + (kvh * group + r % group) * hd;
                const float inv = 1.0f / w.l[r];
                for (size_t d = 0; d < hd; ++d) out[d] = w.o[r * hd + d] * inv;
            }
        }
    }
}

}  // namespace kiln
