#include "kernels/repack.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/quants.h"
#include "kernels/type_table.h"

namespace kiln {

bool can_repack(DType type, size_t n_rows) {
    return traits(type).repack_strip != nullptr && n_rows % kStripRows == 0 && n_rows > 0;
}

namespace {

// One strip: rows (row_bytes apart, in `rows`) into `out` block by block.
template <class Block>
void repack_strip(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out) {
    constexpr size_t kGroups = sizeof(Block::qs) / 4;
    for (size_t b = 0; b < n_blocks; ++b) {
        for (size_t r = 0; r < kStripRows; ++r) {
            const auto* blk = reinterpret_cast<const Block*>(rows + r * row_bytes) + b;
            std::memcpy(out + 2 * r, &blk->d, 2);
            for (size_t g = 0; g < kGroups; ++g) std::memcpy(out + 32 + g * 64 + 4 * r, blk->qs + 4 * g, 4);
        }
        out += kStripRows * sizeof(Block);
    }
}

// Level e (0..63) of a Q6_K super-block.
int q6_k_level(const BlockQ6_K& b, size_t e) {
    const size_t h = e / 128, r = e % 128;
    const uint8_t lo = b.ql[64 * h + r % 64];
    const int low = r < 64 ? (lo & 0xF) : (lo >> 4);
    return low | (((b.qh[32 * h + r % 32] >> (2 * (r / 32))) & 3) << 4);
}

}  // namespace

void repack_strip_q6_k(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out) {
    for (size_t b = 0; b < n_blocks; ++b) {
        for (size_t r = 0; r < kStripRows; ++r) {
            const auto& blk = reinterpret_cast<const BlockQ6_K*>(rows + r * row_bytes)[b];
            std::memcpy(out + 2 * r, &blk.d, 2);
            for (size_t s = 0; s < 16; ++s) out[32 + 32 * (s / 2) + 2 * r + s % 2] = static_cast<uint8_t>(blk.scales[s]);
            for (size_t s = 0; s < 16; ++s) {
                uint8_t* sub = out + 288 + 192 * s;
                for (size_t i = 0; i < 4; ++i) {
                    int q[4];
                    for (size_t g = 0; g < 4; ++g) q[g] = q6_k_level(blk, 16 * s + 4 * g + i);
                    sub[4 * r + i] = static_cast<uint8_t>((q[0] & 0xF) | (q[1] & 0xF) << 4);
                    sub[64 + 4 * r + i] = static_cast<uint8_t>((q[2] & 0xF) | (q[3] & 0xF) << 4);
                    sub[128 + 4 * r + i] = static_cast<uint8_t>(q[0] >> 4 | (q[1] >> 4) << 2 | (q[2] >> 4) << 4 | (q[3] >> 4) << 6);
                }
            }
        }
        out += kStripRows * sizeof(BlockQ6_K);
    }
}

namespace {

// Q4_K and Q5_K (whose extra qh comes last).
template <class Block>
void repack_strip_k4(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out) {
    for (size_t b = 0; b < n_blocks; ++b) {
        for (size_t r = 0; r < kStripRows; ++r) {
            const auto& blk = reinterpret_cast<const Block*>(rows + r * row_bytes)[b];
            std::memcpy(out + 2 * r, &blk.d, 2);
            std::memcpy(out + 32 + 2 * r, &blk.dmin, 2);
            for (int j = 0; j < 8; ++j) {
                uint8_t sc, m;
                get_scale_min_k4(j, blk.scales, sc, m);
                out[64 + 16 * j + r] = static_cast<uint8_t>(sc | (m >> 4) << 6);
                uint8_t& nib = out[192 + 16 * (j / 2) + r];
                nib = static_cast<uint8_t>(j % 2 == 0 ? (m & 0xF) : (nib | (m & 0xF) << 4));
            }
            for (size_t g = 0; g < 32; ++g) std::memcpy(out + 256 + 64 * g + 4 * r, blk.qs + 4 * g, 4);
            if constexpr (std::is_same_v<Block, BlockQ5_K>)
                for (size_t k = 0; k < 8; ++k) std::memcpy(out + 2304 + 64 * k + 4 * r, blk.qh + 4 * k, 4);
        }
        out += kStripRows * sizeof(Block);
    }
}

}  // namespace

void repack_strip_q8_0(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out) {
    repack_strip<BlockQ8_0>(rows, row_bytes, n_blocks, out);
}
void repack_strip_q4_0(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out) {
    repack_strip<BlockQ4_0>(rows, row_bytes, n_blocks, out);
}
void repack_strip_q4_k(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out) {
    repack_strip_k4<BlockQ4_K>(rows, row_bytes, n_blocks, out);
}
void repack_strip_q5_k(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out) {
    repack_strip_k4<BlockQ5_K>(rows, row_bytes, n_blocks, out);
}

void repack_strips16(DType type, uint8_t* data, size_t n_rows, size_t n_cols, int threads) {
    const TypeTraits& t = traits(type);
    const TypeInfo& info = t.info;
    const size_t rb = row_bytes(info, n_cols), n_blocks = n_cols / info.block_elems, strip = kStripRows * rb;
    const auto n_strips = static_cast<long>(n_rows / kStripRows);
#pragma omp parallel num_threads(std::max(threads, 1))
    {
        std::vector<uint8_t> copy(strip);
#pragma omp for schedule(static)
        for (long s = 0; s < n_strips; ++s) {
            uint8_t* p = data + static_cast<size_t>(s) * strip;
            std::memcpy(copy.data(), p, strip);
            t.repack_strip(copy.data(), rb, n_blocks, p);
        }
    }
}

}  // namespace kiln
