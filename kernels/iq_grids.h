// The codebooks of the IQ1, IQ2 and IQ3 formats (kernels/iq_grids.cpp).
#pragma once

#include <array>
#include <cstdint>

namespace kiln {

extern const uint64_t kIq2xxsGrid[256];  // 8 magnitudes from {8, 25, 43} per entry
extern const uint64_t kIq2xsGrid[512];
extern const uint64_t kIq2sGrid[1024];
extern const uint32_t kIq3xxsGrid[256];  // 4 magnitudes from {4, 12, ..., 62} per entry
extern const uint32_t kIq3sGrid[512];    // 4 odd magnitudes 1..15 per entry
extern const uint64_t kIq1sGrid[2048];   // 8 levels from {-1, 0, 1} per entry

// The same codebooks re-coded as one 16-bit word per entry, for lookups held in vector
// registers: element e's position in its format's level list (kIq2Levels, ...) at bit
// (e / 2) * B + 8 * (e % 2), B bits per element, so that shifting the word right by (e / 2) * B
// leaves elements e and e + 1 in the low bits of its two bytes.
// The level lists are 16 bytes, zero-padded: a byte-shuffle table.
extern const uint8_t kIq2Levels[16];     // the IQ2 magnitudes 8, 25, 43; B = 2
extern const uint8_t kIq3xxsLevels[16];  // 4, 12, ..., 52, 62; B = 3
extern const std::array<uint16_t, 256> kIq2xxsCodes;
extern const std::array<uint16_t, 512> kIq2xsCodes;
extern const std::array<uint16_t, 256> kIq3xxsCodes;

}  // namespace kiln
