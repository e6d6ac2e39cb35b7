// The codebooks of the IQ1, IQ2 and IQ3 formats (kernels/iq_grids.cpp).
#pragma once

#include <cstdint>

namespace kiln {

extern const uint64_t kIq2xxsGrid[256];  // 8 magnitudes from {8, 25, 43} per entry
extern const uint64_t kIq2xsGrid[512];
extern const uint64_t kIq2sGrid[1024];
extern const uint32_t kIq3xxsGrid[256];  // 4 magnitudes from {4, 12, ..., 62} per entry
extern const uint32_t kIq3sGrid[512];    // 4 odd magnitudes 1..15 per entry
extern const uint64_t kIq1sGrid[2048];   // 8 levels from {-1, 0, 1} per entry

}  // namespace kiln
