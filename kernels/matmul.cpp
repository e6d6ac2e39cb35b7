#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include <omp.h>

#include "kernels/fp16.h"
#include "kernels/quants.h"
#include "kernels/type_table.h"

namespace kiln {

namespace {

// Block b of every token's Q8_0 row (row_stride apart) into the tiles of ActLayout::tiles16.
void block_to_tiles(const uint8_t* rows, size_t row_stride, size_t n_tokens, size_t n_blocks, size_t b, uint8_t* tiles,
                    size_t tile_stride) {
    constexpr size_t kLevels = sizeof(BlockQ8_0::qs);
    for (size_t g0 = 0; g0 < n_tokens; g0 += 16) {
        const size_t group = std::min<size_t>(16, n_tokens - g0);
        uint8_t* base = tiles + g0 * tile_stride;
        for (size_t i = 0; i < group; ++i) {
            const BlockQ8_0& block = reinterpret_cast<const BlockQ8_0*>(rows + (g0 + i) * row_stride)[b];
            const float d = f16_to_f32(block.d);
            std::memcpy(base + (b * group + i) * kLevels, block.qs, kLevels);
            std::memcpy(base + n_blocks * group * kLevels + (b * group + i) * sizeof d, &d, sizeof d);
        }
    }
}

}  // namespace

MatmulKernel matmul_kernel(DType type, Isa isa, Layout layout) {
    const TypeTraits& t = traits(type);
    if (layout == Layout::strips16)  // only the amx level has strip kernels
        return {t.act_type, isa == Isa::amx ? t.strips_tile : nullptr, t.strips_act};
    return {t.act_type, t.tile[isa == Isa::amx ? static_cast<size_t>(Isa::avx512) : static_cast<size_t>(isa)]};
}

void MatmulInput::set(const float* x, size_t ldx, size_t n_tokens, size_t n_cols) {
    x_ = x, ldx_ = ldx, n_tokens_ = n_tokens, n_cols_ = n_cols;
    q8_0_.valid = q8_k_.valid = q8_0_tiles_.valid = false;
}

const uint8_t* MatmulInput::rows(DType act_type, ActLayout layout, Isa isa, int n_threads, size_t& stride) {
    if (act_type == DType::F32) {
        stride = ldx_ * sizeof(float);
        return reinterpret_cast<const uint8_t*>(x_);
    }
    Quantized& q = act_type == DType::Q8_0 ? q8_0_ : q8_k_;
    Quantized& tiles = q8_0_tiles_;
    const bool want_tiles = layout == ActLayout::tiles16 && !tiles.valid;  // (tiles16 is a Q8_0 layout)
    const size_t row_stride = row_bytes(*type_info(static_cast<uint32_t>(act_type)), n_cols_);
    const size_t n_blocks = n_cols_ / QK8_0, tile_stride = n_blocks * (sizeof(BlockQ8_0::qs) + sizeof(float));
    if (!q.valid && q.bytes.size() < row_stride * n_tokens_) q.bytes.resize(row_stride * n_tokens_);
    if (want_tiles && tiles.bytes.size() < tile_stride * n_tokens_) tiles.bytes.resize(tile_stride * n_tokens_);
    if (!q.valid || want_tiles) {
#pragma omp parallel num_threads(n_threads) if (n_tokens_ * n_cols_ >= 32768 && n_threads > 1)
        {
            if (!q.valid) {
#pragma omp for schedule(static)
                for (size_t t = 0; t < n_tokens_; ++t) quantize_row(isa, act_type, x_ + t * ldx_, q.bytes.data() + t * row_stride, n_cols_);
            }
            // Q8_0 tiles from the rows, block by block: a thread writes whole blocks, so no cache
            // line is written by two.
            if (want_tiles) {
#pragma omp for schedule(static)
                for (size_t b = 0; b < n_blocks; ++b)
                    block_to_tiles(q.bytes.data(), row_stride, n_tokens_, n_blocks, b, tiles.bytes.data(), tile_stride);
            }
        }
        q.valid = true;
        if (layout == ActLayout::tiles16) tiles.valid = true;
    }
    stride = layout == ActLayout::tiles16 ? tile_stride : row_stride;
    return layout == ActLayout::tiles16 ? tiles.bytes.data() : q.bytes.data();
}

void matmul(Isa isa, const WeightMatrix& w, MatmulInput& in, float* y, size_t ldy, int n_threads) {
    const MatmulOutput one{&w, y, ldy};
    matmul(isa, std::span<const MatmulOutput>(&one, 1), in, n_threads);
}

void matmul(Isa isa, std::span<const MatmulOutput> outputs, MatmulInput& in, int n_threads) {
    // A block of rows stays in cache while every token passes over it.
    constexpr size_t kBlockRows = kStripRows, kMaxOutputs = 4;  // a strips16 kernel takes whole strips
    struct Job {
        MatmulTileFn tile;
        bool strip_runs;
        const uint8_t* w;
        size_t row_bytes, n_rows, n_cols;
        const uint8_t* x;
        size_t x_stride;
        float* y;
        size_t ldy;
        size_t first_block;  // blocks of all outputs are numbered one after another
    };
    Job jobs[kMaxOutputs];
    const size_t n_jobs = std::min(outputs.size(), kMaxOutputs);
    size_t n_blocks = 0, work = 0;
    for (size_t j = 0; j < n_jobs; ++j) {
        const WeightMatrix& w = *outputs[j].w;
        const MatmulKernel k = matmul_kernel(w.type, isa, w.layout);
        size_t x_stride = 0;
        const uint8_t* x = in.rows(k.act_type, k.act_layout, isa, n_threads, x_stride);
        jobs[j] = {k.tile, w.layout == Layout::strips16, static_cast<const uint8_t*>(w.data),
                   row_bytes(*type_info(static_cast<uint32_t>(w.type)), w.n_cols), w.n_rows, w.n_cols, x, x_stride, outputs[j].y,
                   outputs[j].ldy, n_blocks};
        n_blocks += (w.n_rows + kBlockRows - 1) / kBlockRows;
        work += w.n_rows * w.n_cols;
    }
    // A long prompt goes in chunks of tokens whose activations (at most kChunkBytes) stay in a
    // core's L2 while the rows pass over them; all of them at once (1-24 MB) would stream from
    // L3 past every block of rows. Weights, read again per chunk, cost little beside a chunk's
    // arithmetic. Chunks are whole groups of 16 tokens (the tiles16 layout's), and a (row,
    // token) result does not depend on the tokens beside it.
    constexpr size_t kChunkBytes = size_t{512} << 10;
    size_t x_stride = 1;
    for (size_t j = 0; j < n_jobs; ++j) x_stride = std::max(x_stride, jobs[j].x_stride);
    const size_t chunk = std::max<size_t>(16, kChunkBytes / x_stride / 16 * 16), n_all = in.n_tokens();
    const size_t team = static_cast<size_t>(std::max(n_threads, 1));
    for (size_t t0 = 0; t0 < n_all; t0 += chunk) {
        const size_t n_tokens = std::min(chunk, n_all - t0);
        const bool big = work * n_tokens >= (size_t{1} << 15);  // else threads cost more than they save
        // Threads take runs of blocks as they come free, each run half of what is left over the
        // threads (guided), so that a thread slowed by a core another process holds takes less
        // while runs stay long (a row's result does not depend on which thread computes it, nor
        // on the run it is in); a strip kernel takes its part of a run in one call. One token's
        // product is too short for more than a share per thread to pay.
        const size_t min_run = n_tokens == 1 ? (n_blocks + team - 1) / team : std::max<size_t>(1, n_blocks / (16 * team));
        std::atomic<size_t> next{0};
#pragma omp parallel num_threads(n_threads) if (big && n_threads > 1)
        for (;;) {
            size_t start = next.load(std::memory_order_relaxed), end = 0;
            do {
                if (start >= n_blocks) break;
                end = std::min(n_blocks, start + std::max(min_run, (n_blocks - start) / (2 * team)));
            } while (!next.compare_exchange_weak(start, end, std::memory_order_relaxed));
            if (start >= n_blocks) break;
            for (size_t b = start; b < end;) {
                size_t j = n_jobs - 1;
                while (jobs[j].first_block > b) --j;
                const Job& job = jobs[j];
                const size_t job_end = j + 1 < n_jobs ? jobs[j + 1].first_block : n_blocks;
                const size_t run = job.strip_runs ? std::min(end, job_end) - b : 1;
                const size_t r0 = (b - job.first_block) * kBlockRows, nr = std::min(run * kBlockRows, job.n_rows - r0);
                job.tile(job.w + r0 * job.row_bytes, job.row_bytes, nr, job.x + t0 * job.x_stride, job.x_stride, n_tokens,
                         job.n_cols, job.y + r0 + t0 * job.ldy, job.ldy);
                b += run;
            }
        }
    }
}

}  // namespace kiln
