// SIMD kernels against their scalar references, and the formats' conversions.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/attention.h"
#include "kernels/fp16.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

using namespace kiln;

namespace {

std::vector<Isa> simd_isas() {
    std::vector<Isa> out;
    for (Isa i : {Isa::avx2, Isa::avx512})
        if (isa_supported(i)) out.push_back(i);
    return out;
}

// Random weights of a type, as bytes, and their exact float values.
struct Weights {
    std::string bytes;
    std::vector<float> values;
};

Weights random_weights(DType type, size_t n, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    Weights w;
    const size_t esize = type == DType::F32 ? 4 : 2;
    w.bytes.resize(n * esize);
    w.values.resize(n);
    for (size_t i = 0; i < n; ++i) {
        const float v = normal(rng);
        if (type == DType::F32) {
            std::memcpy(&w.bytes[4 * i], &v, 4);
            w.values[i] = v;
        } else {
            uint16_t h;
            if (type == DType::F16) {
                h = f32_to_f16(v);
                w.values[i] = f16_to_f32(h);
            } else {
                uint32_t bits;
                std::memcpy(&bits, &v, 4);
                h = static_cast<uint16_t>(bits >> 16);  // truncation is a valid bf16 value too
                w.values[i] = bf16_to_f32(h);
            }
            std::memcpy(&w.bytes[2 * i], &h, 2);
        }
    }
    return w;
}

}  // namespace

TEST_CASE("f16 conversion is exact and rounds to nearest even", "[kernels]") {
    CHECK(f16_to_f32(0x3c00) == 1.0f);
    CHECK(f16_to_f32(0xc000) == -2.0f);
    CHECK(f16_to_f32(0x7bff) == 65504.0f);
    CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
    CHECK(std::isinf(f16_to_f32(0x7c00)));
    CHECK(f32_to_f16(1.0f) == 0x3c00);
    CHECK(f32_to_f16(65504.0f) == 0x7bff);
    CHECK(f32_to_f16(70000.0f) == 0x7c00);
    CHECK(f32_to_f16(std::ldexp(1.0f, -24)) == 0x0001);
    CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);      // halfway, even stays
    CHECK(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);  // halfway, odd rounds up
    // Every finite half survives the round trip.
    for (uint32_t h = 0; h < 0x10000; ++h) {
        if ((h & 0x7c00) == 0x7c00) continue;
        REQUIRE(f32_to_f16(f16_to_f32(static_cast<uint16_t>(h))) == h);
    }
}

TEST_CASE("SIMD row dot products match the scalar reference", "[kernels]") {
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (DType type : {DType::F32, DType::F16, DType::BF16}) {
        for (size_t n : {size_t{1}, size_t{7}, size_t{8}, size_t{15}, size_t{16}, size_t{17}, size_t{64},
                         size_t{172}, size_t{1000}, size_t{4096}, size_t{16384}}) {
            const size_t rows = 4;
            const Weights w = random_weights(type, rows * n, rng);
            std::vector<float> x(n);
            for (float& v : x) v = normal(rng);
            const size_t rb = w.bytes.size() / rows;
            const auto* wp = reinterpret_cast<const uint8_t*>(w.bytes.data());
            float ref[4];
            dot_rows_fn(type, Isa::scalar)(wp, rb, rows, x.data(), n, ref);
            for (size_t r = 0; r < rows; ++r) {
                // The scalar kernel itself equals the exact (double) dot product of the stored values.
                double exact = 0.0, magnitude = 0.0;
                for (size_t i = 0; i < n; ++i) {
                    exact += double(w.values[r * n + i]) * x[i];
                    magnitude += std::fabs(double(w.values[r * n + i]) * x[i]);
                }
                CHECK(std::fabs(ref[r] - exact) <= 1e-6 * magnitude * std::sqrt(double(n)) + 1e-6);
            }
            for (Isa isa : simd_isas()) {
                float got[4], one[1];
                dot_rows_fn(type, isa)(wp, rb, rows, x.data(), n, got);
                for (size_t r = 0; r < rows; ++r) {
                    double magnitude = 0.0;
                    for (size_t i = 0; i < n; ++i) magnitude += std::fabs(double(w.values[r * n + i]) * x[i]);
                    INFO(type_info(uint32_t(type))->name << " n=" << n << " " << isa_name(isa));
                    CHECK(std::fabs(got[r] - ref[r]) <= 2e-6 * magnitude + 1e-6);
                    // A row alone gives the same bits as in a group of four.
                    dot_rows_fn(type, isa)(wp + r * rb, rb, 1, x.data(), n, one);
                    CHECK(std::memcmp(one, &got[r], 4) == 0);
                }
            }
        }
    }
}

TEST_CASE("matmul equals per-token products, whatever the tokens and threads", "[kernels]") {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const size_t rows = 37, cols = 100, tokens = 5;
    for (DType type : {DType::F32, DType::F16, DType::BF16}) {
        const Weights w = random_weights(type, rows * cols, rng);
        std::vector<float> x(tokens * cols);
        for (float& v : x) v = normal(rng);
        for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
            if (!isa_supported(isa)) continue;
            const WeightMatrix m{w.bytes.data(), type, rows, cols};
            std::vector<float> batched(tokens * rows), single(rows);
            matmul(isa, m, x.data(), cols, tokens, batched.data(), rows, 2);
            for (size_t t = 0; t < tokens; ++t) {
                matmul(isa, m, x.data() + t * cols, cols, 1, single.data(), rows, 1);
                CHECK(std::memcmp(single.data(), &batched[t * rows], rows * 4) == 0);
            }
        }
    }
}

TEST_CASE("rmsnorm, rope and swiglu follow their definitions", "[kernels]") {
    std::vector<float> x = {1.0f, -2.0f, 3.0f, -4.0f}, w = {1.0f, 0.5f, 2.0f, 1.0f}, out(4);
    rmsnorm(out.data(), x.data(), w.data(), 4, 0.0f);
    const float rms = std::sqrt((1 + 4 + 9 + 16) / 4.0f);
    for (size_t i = 0; i < 4; ++i) CHECK(out[i] == Approx(x[i] / rms * w[i]));

    // Two heads of 4; rot_dim 4 rotates pairs (0,1) by pos and (2,3) by pos / 100.
    std::vector<float> h = {1, 0, 1, 0, 0, 1, 0, 1};
    rope(h.data(), 2, 4, 4, 3, 10000.0f);
    CHECK(h[0] == Approx(std::cos(3.0f)));
    CHECK(h[1] == Approx(std::sin(3.0f)));
    CHECK(h[2] == Approx(std::cos(0.03f)));
    CHECK(h[5] == Approx(std::cos(3.0f)));
    CHECK(h[4] == Approx(-std::sin(3.0f)));

    std::vector<float> g = {0.0f, 1.0f, -1.0f}, u = {2.0f, 2.0f, 2.0f};
    swiglu(g.data(), u.data(), 3);
    CHECK(g[0] == 0.0f);
    CHECK(g[1] == Approx(2.0f / (1.0f + std::exp(-1.0f))));
    CHECK(g[2] == Approx(-2.0f / (1.0f + std::exp(1.0f))));
}

TEST_CASE("attention is causal and shares KV heads across their query group", "[kernels]") {
    // 2 query heads, 1 KV head of size 2, three cached positions.
    const AttentionShape shape{2, 1, 2, 2};
    const std::vector<float> k = {1, 0, 0, 1, 1, 1}, v = {1, 2, 3, 4, 5, 6};
    const std::vector<float> q = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // zero queries: uniform weights
    std::vector<float> out(12), scratch(2 * 3);
    attention(shape, q.data(), 4, 3, 0, k.data(), v.data(), out.data(), 4, scratch.data(), 2);
    CHECK(out[0] == Approx(1.0f));  // token 0 sees only position 0
    CHECK(out[1] == Approx(2.0f));
    CHECK(out[4] == Approx(2.0f));  // token 1: mean of positions 0 and 1
    CHECK(out[8] == Approx(3.0f));  // token 2: mean of all three
    CHECK(out[10] == Approx(3.0f)); // second head, same KV head
    CHECK(out[11] == Approx(4.0f));
}
