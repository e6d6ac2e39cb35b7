// Pieces the strip kernels (kernels/matmul_amx.cpp, kernels/matmul_k_strips.cpp) share:
// the prefetch of a strip's stream and the AMX tile configuration.
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

// ldtilecfg from c. (GCC 12 does not see ldtilecfg read memory and drops the stores that built
// c unless something else reads it: the empty asm does.)
[[gnu::target("amx-tile")]] inline void load_tile_config(const TileConfig& c) {
    __asm__ volatile("" : : "m"(c));
    _tile_loadconfig(&c);
}

}  // namespace kiln
