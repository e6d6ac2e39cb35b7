// Weights rearranged at load time for the strip kernels: Q8_0, Q4_0, Q4_K, Q5_K and Q6_K matrices in strips of 16
// rows, block by block, in the order tile products read them. A strip takes exactly the bytes
// of its 16 rows, so the rearrangement happens in place and row offsets stay valid per strip.
//
// Per strip and 32-element block: the 16 rows' f16 scales (32 bytes), then
//   Q8_0: 8 groups of (16 rows x 4 levels): group k holds levels 4k..4k+3 of each row;
//   Q4_0: 4 groups of (16 rows x 4 bytes): group j holds bytes 4j..4j+3 of each row, whose
//         low nibbles are levels 4j..4j+3 and high nibbles levels 16+4j..16+4j+3.
// Q6_K, per strip and 256-element super-block: the 16 rows' f16 d (32 bytes); the scales in
// 8 pairs of 32 bytes, pair p holding each row's (scale 2p, scale 2p+1); then per 16-element
// sub-block s, three times 64 bytes (16 rows x 4 bytes), byte 4r + i of each being
//   N0: low nibbles of levels 16s+i (low half) and 16s+4+i (high half) of row r,
//   N1: the same for levels 16s+8+i and 16s+12+i,
//   H:  the top two bits of those four levels, in bits 0-1, 2-3, 4-5, 6-7.
// Q4_K and Q5_K, per strip and super-block: the 16 rows' f16 d (32 bytes) and dmin (32 bytes); per
// 32-element sub-block j, 16 bytes (row r at byte r) of scale | (min >> 4) << 6; per pair of
// sub-blocks, 16 bytes of the mins' low nibbles (sub-block 2p low, 2p + 1 high); then 32
// groups of (16 rows x 4 bytes): group g holds bytes 4g..4g+3 of each row's qs, whose low
// nibbles are levels of sub-block 2 * (g / 8) and high nibbles of the next one; Q5_K then has
// 8 groups of (16 rows x 4 bytes): group k holds bytes 4k..4k+3 of each row's qh.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/types.h"

namespace kiln {

enum class Layout { rows, strips16 };

constexpr size_t kStripRows = 16;

// Whether a matrix of this type and shape has a strips16 form.
bool can_repack(DType type, size_t n_rows);

// Rearranges a row-major matrix into strips16, in place, with OpenMP's threads.
void repack_strips16(DType type, uint8_t* data, size_t n_rows, size_t n_cols, int threads);

// The packers of one strip, per type (kernels/type_table.h names them).
void repack_strip_q8_0(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out);
void repack_strip_q4_0(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out);
void repack_strip_q4_k(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out);
void repack_strip_q5_k(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out);
void repack_strip_q6_k(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out);

}  // namespace kiln
