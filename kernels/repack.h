// Weights rearranged at load time for the AMX kernels: Q8_0 and Q4_0 matrices in strips of 16
// rows, block by block, in the order tile products read them. A strip takes exactly the bytes
// of its 16 rows, so the rearrangement happens in place and row offsets stay valid per strip.
//
// Per strip and 32-element block: the 16 rows' f16 scales (32 bytes), then
//   Q8_0: 8 groups of (16 rows x 4 levels): group k holds levels 4k..4k+3 of each row;
//   Q4_0: 4 groups of (16 rows x 4 bytes): group j holds bytes 4j..4j+3 of each row, whose
//         low nibbles are levels 4j..4j+3 and high nibbles levels 16+4j..16+4j+3.
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
void repack_strips16(DType type, uint8_t* data, size_t n_rows, size_t n_cols);

}  // namespace kiln
