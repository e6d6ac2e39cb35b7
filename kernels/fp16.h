// Scalar conversions between float and the 16-bit float formats GGUF stores.
#pragma once

#include <cstdint>
#include <cstring>

namespace kiln {

inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000 | (mant << 13);  // inf / nan
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        // Subnormal half: value = mant * 2^-24, exact in float.
        float f = static_cast<float>(mant) * (1.0f / 16777216.0f);
        std::memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
}

// Round to nearest even, as F16C's vcvtps2ph does.
inline uint16_t f32_to_f16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000;
    const uint32_t abs = x & 0x7fffffff;
    if (abs > 0x7f800000) return static_cast<uint16_t>(sign | 0x7e00);  // nan
    if (abs >= 0x477ff000) return static_cast<uint16_t>(sign | 0x7c00); // overflow -> inf
    if (abs < 0x38800000) {
        // Result is subnormal (or zero): scale so that the half ulp becomes 1.
        float a;
        std::memcpy(&a, &abs, 4);
        float scaled = a * 16777216.0f;  // 2^24
        uint32_t m = static_cast<uint32_t>(scaled);
        float rem = scaled - static_cast<float>(m);
        if (rem > 0.5f || (rem == 0.5f && (m & 1))) ++m;
        return static_cast<uint16_t>(sign | m);
    }
    uint32_t m = abs + 0xc8000fff + ((abs >> 13) & 1);  // rebias exponent, round to nearest even
    return static_cast<uint16_t>(sign | (m >> 13));
}

inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
}

// Round to nearest even; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 0x40);
    return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

}  // namespace kiln
