// Pieces the strip kernels (kernels/matmul_amx.cpp, kernels/matmul_q6_k_strips.cpp) share.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace kiln {

// Fetches the cache lines of [p, p + bytes) shifted `far` bytes ahead into L2 and `near`
// bytes ahead into L1: a strip is one stream read once per token group.
inline void prefetch_ahead(const uint8_t* p, size_t bytes, size_t far, size_t near) {
    for (size_t off = 0; off < bytes; off += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(p) + far + off, _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(p) + near + off, _MM_HINT_T0);
    }
}

struct alignas(64) TileConfig {
    uint8_t palette = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

// Two sets of tiles, so that one product runs while the other's sums are read out: tiles 0
// and 3 hold sums (tokens x 16 int32), 1 and 4 activations (tokens x k_bytes), 2 and 5 the
// strip's levels (k_bytes / 4 rows of 64 bytes).
[[gnu::target("amx-tile")]] inline void configure_tiles(size_t tokens, size_t k_bytes) {
    TileConfig c;
    for (int set = 0; set < 6; set += 3) {
        c.rows[set] = static_cast<uint8_t>(tokens), c.colsb[set] = 64;
        c.rows[set + 1] = static_cast<uint8_t>(tokens), c.colsb[set + 1] = static_cast<uint16_t>(k_bytes);
        c.rows[set + 2] = static_cast<uint8_t>(k_bytes / 4), c.colsb[set + 2] = 64;
    }
    _tile_loadconfig(&c);
}

}  // namespace kiln
