// SIMD kernels against their scalar references, and the formats' conversions.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/attention.h"
#include "kernels/fp16.h"
#include "kernels/iq_grids.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/quants.h"
#include "kernels/type_table.h"
#include "helpers.h"
#include "kernels/repack.h"

using namespace kiln;
using kiln::test::supported_isas;

namespace {

// Every type kiln computes with, from the type table.
const std::vector<DType> kAllTypes = [] {
    std::vector<DType> out;
    for (const TypeTraits& t : type_table())
        if (t.info.name != nullptr && computable(t.type)) out.push_back(t.type);
    return out;
}();

const TypeInfo& info(DType t) { return *type_info(static_cast<uint32_t>(t)); }

std::vector<float> normal_floats(size_t n, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = normal(rng);
    return v;
}

// rows x n random weights stored as `type`, and their exact (dequantized) values.
struct Weights {
    std::vector<uint8_t> bytes;
    std::vector<float> values;
    size_t row_bytes;
};

// One random block of a type kiln cannot write: random bytes, drawn again until the block's
// values are finite and of a weight's size (its f16 scales are random too).
void random_block(DType type, uint8_t* block, std::mt19937& rng) {
    const TypeInfo& t = info(type);
    std::vector<float> v(t.block_elems);
    std::uniform_int_distribution<int> byte(0, 255);
    for (;;) {
        for (size_t i = 0; i < t.block_bytes; ++i) block[i] = static_cast<uint8_t>(byte(rng));
        dequantize_row(type, block, v.data(), v.size());
        float amax = 0.0f;
        for (float x : v) amax = std::isfinite(x) ? std::max(amax, std::fabs(x)) : INFINITY;
        if (amax > 1e-3f && amax < 100.0f) return;
    }
}

Weights random_weights(DType type, size_t rows, size_t n, std::mt19937& rng) {
    Weights w;
    w.row_bytes = row_bytes(info(type), n);
    w.bytes.resize(rows * w.row_bytes);
    w.values.resize(rows * n);
    const std::vector<float> src = normal_floats(rows * n, rng);
    const bool writable = traits(type).from_float != nullptr;
    for (size_t r = 0; r < rows; ++r) {
        uint8_t* row = &w.bytes[r * w.row_bytes];
        if (writable) quantize_row(type, &src[r * n], row, n);
        else
            for (size_t b = 0; b < w.row_bytes; b += info(type).block_bytes) random_block(type, row + b, rng);
        dequantize_row(type, row, &w.values[r * n], n);
    }
    return w;
}

// The activations a kernel really multiplies with, as floats.
std::vector<float> effective_activations(DType act, const std::vector<float>& x) {
    std::vector<float> out(x.size());
    if (act == DType::F32) return x;
    if (act == DType::Q8_0) {
        std::vector<BlockQ8_0> q(x.size() / QK8_0);
        quantize_row_q8_0(x.data(), q.data(), x.size());
        dequantize_row_q8_0(q.data(), out.data(), x.size());
        return out;
    }
    std::vector<BlockQ8_K> q(x.size() / QK_K);
    quantize_row_q8_K(x.data(), q.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = q[i / QK_K].d * q[i / QK_K].qs[i % QK_K];
    return out;
}

std::vector<size_t> lengths(DType type) {
    const size_t b = info(type).block_elems;
    if (b == 1) return {1, 7, 8, 15, 16, 17, 64, 172, 1000, 4096, 16384};
    if (b == 32) return {32, 64, 96, 160, 1024, 4096, 16384};
    return {256, 512, 768, 4096, 16384};
}

// y = W x through matmul(), for n_tokens rows of x.
std::vector<float> run_matmul(Isa isa, DType type, const Weights& w, size_t rows, size_t n, const std::vector<float>& x,
                              size_t n_tokens, int threads) {
    MatmulInput in;
    in.set(x.data(), n, n_tokens, n);
    std::vector<float> y(n_tokens * rows);
    matmul(isa, WeightMatrix{w.bytes.data(), type, rows, n}, in, y.data(), rows, threads);
    return y;
}

// Random weights and tokens: the batched product on 2 threads equals each token's alone, bit
// for bit, on every supported level.
void check_tokens_one_by_one(DType type, size_t rows, size_t n, size_t tokens, std::mt19937& rng) {
    const Weights w = random_weights(type, rows, n, rng);
    const std::vector<float> x = normal_floats(tokens * n, rng);
    for (Isa isa : supported_isas()) {
        const std::vector<float> batched = run_matmul(isa, type, w, rows, n, x, tokens, 2);
        for (size_t t = 0; t < tokens; ++t) {
            const std::vector<float> xt(x.begin() + t * n, x.begin() + (t + 1) * n);
            const std::vector<float> single = run_matmul(isa, type, w, rows, n, xt, 1, 1);
            INFO(info(type).name << " " << isa_name(isa) << " token " << t);
            CHECK(std::memcmp(single.data(), &batched[t * rows], rows * 4) == 0);
        }
    }
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

TEST_CASE("every kernel equals the exact product of what it multiplies, SIMD within rounding of scalar", "[kernels]") {
    std::mt19937 rng(42);
    const size_t rows = 5;
    for (DType type : kAllTypes) {
        const DType act = matmul_kernel(type, Isa::scalar).act_type;
        for (size_t n : lengths(type)) {
            const Weights w = random_weights(type, rows, n, rng);
            const std::vector<float> x = normal_floats(n, rng);
            const std::vector<float> xe = effective_activations(act, x);
            const std::vector<float> ref = run_matmul(Isa::scalar, type, w, rows, n, x, 1, 1);
            for (size_t r = 0; r < rows; ++r) {
                double exact = 0.0, magnitude = 0.0;
                for (size_t i = 0; i < n; ++i) {
                    exact += double(w.values[r * n + i]) * xe[i];
                    magnitude += std::fabs(double(w.values[r * n + i]) * xe[i]);
                }
                INFO(info(type).name << " n=" << n << " row " << r);
                // Float accumulation only: a few ulps per term at most.
                CHECK(std::fabs(ref[r] - exact) <= 1e-6 * magnitude * std::sqrt(double(n)) + 1e-6);
                for (Isa isa : supported_isas()) {
                    if (isa == Isa::scalar) continue;
                    const std::vector<float> got = run_matmul(isa, type, w, rows, n, x, 1, 1);
                    INFO(isa_name(isa));
                    CHECK(std::fabs(got[r] - ref[r]) <= 2e-6 * magnitude + 1e-6);
                }
            }
        }
    }
}

TEST_CASE("matmul equals per-token products bit for bit, whatever the tokens and threads", "[kernels]") {
    // 30 tokens: float weights take the converted-chunk path above 6 tokens (several groups).
    std::mt19937 rng(7);
    for (DType type : kAllTypes) check_tokens_one_by_one(type, 37, info(type).block_elems == 1 ? 100 : 512, 30, rng);
}

TEST_CASE("a long prompt's matmul, split into chunks of tokens, equals per-token products bit for bit", "[kernels]") {
    // Rows of 8192 columns: chunks of 48 tokens for 8-bit activations, 16 for float ones, so
    // 70 tokens cross chunk boundaries and end in a part-chunk.
    std::mt19937 rng(13);
    for (DType type : {DType::Q4_0, DType::Q4_K, DType::F16}) check_tokens_one_by_one(type, 20, 8192, 70, rng);
}

TEST_CASE("strip kernels (AMX; K-quants on VNNI) give the one-token result bit for bit at every batch size", "[kernels][amx]") {
    if (!isa_supported(Isa::amx)) {
        WARN("SKIPPED: this CPU (or kernel) has no AMX");
        return;
    }
    std::mt19937 rng(11);
    const size_t rows = 48;
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        const bool k_quant = type_info(static_cast<uint32_t>(type))->block_elems == QK_K;
        const std::vector<size_t> sizes = k_quant ? std::vector<size_t>{256, 2048 + 256, 5632}
                                                  : std::vector<size_t>{32, 96, 2048 + 64, 5632};  // 5632: past one 64-block chunk
        for (size_t n : sizes) {
            Weights w = random_weights(type, rows, n, rng);
            const Weights plain = w;
            repack_strips16(type, w.bytes.data(), rows, n, 2);
            const size_t max_tokens = 100;  // past one chunk of tokens (80 at 5632 columns)
            const std::vector<float> x = normal_floats(max_tokens * n, rng);
            MatmulInput in;
            const auto run = [&](const float* xs, size_t tokens, int threads) {
                in.set(xs, n, tokens, n);
                std::vector<float> y(tokens * rows);
                matmul(Isa::amx, WeightMatrix{w.bytes.data(), type, rows, n, Layout::strips16}, in, y.data(), rows, threads);
                return y;
            };
            std::vector<std::vector<float>> single;
            for (size_t t = 0; t < max_tokens; ++t) single.push_back(run(&x[t * n], 1, 1));
            // Within rounding of the scalar kernel on the row-major original.
            for (size_t t = 0; t < max_tokens; t += 9) {
                const std::vector<float> xt(x.begin() + t * n, x.begin() + (t + 1) * n);
                const std::vector<float> ref = run_matmul(Isa::scalar, type, plain, rows, n, xt, 1, 1);
                for (size_t r = 0; r < rows; ++r) {
                    INFO(info(type).name << " n=" << n << " token " << t << " row " << r);
                    CHECK(std::fabs(single[t][r] - ref[r]) <= 1e-5 * (std::fabs(ref[r]) + std::sqrt(double(n))));
                }
            }
            for (size_t tokens : {2, 3, 4, 5, 16, 17, 37, 100}) {
                const std::vector<float> batched = run(x.data(), tokens, 2);
                for (size_t t = 0; t < tokens; ++t) {
                    INFO(info(type).name << " n=" << n << ", " << tokens << " tokens, token " << t);
                    CHECK(std::memcmp(single[t].data(), &batched[t * rows], rows * 4) == 0);
                }
            }
        }
    }
}

TEST_CASE("the codebooks re-coded for register lookups give back every grid entry", "[kernels]") {
    // element e's level index at bit (e / 2) * B + 8 * (e % 2), B bits (kernels/iq_grids.h)
    const auto check = [](const auto& grid, const auto& codes, const uint8_t* levels, int elements, int bits) {
        REQUIRE(std::size(grid) == codes.size());
        for (size_t i = 0; i < codes.size(); ++i)
            for (int e = 0; e < elements; ++e) {
                const unsigned field = (codes[i] >> ((e / 2) * bits + 8 * (e % 2))) & ((1u << bits) - 1);
                INFO("entry " << i << " element " << e);
                REQUIRE(levels[field] == static_cast<uint8_t>(grid[i] >> 8 * e));
            }
    };
    check(kIq2xxsGrid, kIq2xxsCodes, kIq2Levels, 8, 2);
    check(kIq2xsGrid, kIq2xsCodes, kIq2Levels, 8, 2);
    check(kIq3xxsGrid, kIq3xxsCodes, kIq3xxsLevels, 4, 3);
}

TEST_CASE("dequantization follows each format's formula", "[kernels]") {
    BlockQ8_0 q8{f32_to_f16(0.25f), {}};
    for (int i = 0; i < 32; ++i) q8.qs[i] = static_cast<int8_t>(4 * i - 64);
    float y[256];
    dequantize_row_q8_0(&q8, y, 32);
    for (int i = 0; i < 32; ++i) CHECK(y[i] == 0.25f * (4 * i - 64));

    BlockQ4_0 q4{f32_to_f16(0.5f), {}};
    for (int i = 0; i < 16; ++i) q4.qs[i] = static_cast<uint8_t>(i | ((15 - i) << 4));
    dequantize_row_q4_0(&q4, y, 32);
    for (int i = 0; i < 16; ++i) {
        CHECK(y[i] == 0.5f * (i - 8));
        CHECK(y[i + 16] == 0.5f * (15 - i - 8));
    }

    // Q4_K / Q5_K: sub-block j has scale j + 1 and min 2j (6 bits, packed as ggml packs them).
    BlockQ4_K k4{};
    BlockQ5_K k5{};
    k4.d = k5.d = f32_to_f16(0.5f);
    k4.dmin = k5.dmin = f32_to_f16(0.25f);
    for (int j = 0; j < 8; ++j) {
        const int sc = j + 1 + (j >= 4 ? 40 : 0), m = 2 * j + (j >= 4 ? 20 : 0);  // some need the top bits
        uint8_t* s = k4.scales;
        if (j < 4) {
            s[j] = static_cast<uint8_t>(sc), s[j + 4] = static_cast<uint8_t>(m);
        } else {
            s[j + 4] = static_cast<uint8_t>((sc & 0xF) | ((m & 0xF) << 4));
            s[j - 4] |= static_cast<uint8_t>((sc >> 4) << 6);
            s[j] |= static_cast<uint8_t>((m >> 4) << 6);
        }
    }
    std::memcpy(k5.scales, k4.scales, 12);
    for (int i = 0; i < 128; ++i) k4.qs[i] = k5.qs[i] = static_cast<uint8_t>((i % 16) | ((15 - i % 16) << 4));
    for (int i = 0; i < 32; ++i) k5.qh[i] = static_cast<uint8_t>(i % 2 ? 0xAA : 0x55);
    float y5[256];
    dequantize_row_q4_K(&k4, y, 256);
    dequantize_row_q5_K(&k5, y5, 256);
    for (int e = 0; e < 256; ++e) {
        const int j = e / 32, l = e % 32, byte = e / 64 * 32 + l;
        const int sc = j + 1 + (j >= 4 ? 40 : 0), m = 2 * j + (j >= 4 ? 20 : 0);
        const int q = (j % 2 == 0) ? (k4.qs[byte] & 0xF) : (k4.qs[byte] >> 4);
        CHECK(y[e] == Approx(0.5f * sc * q - 0.25f * m));
        const int high = (k5.qh[l] >> j) & 1;
        CHECK(y5[e] == Approx(0.5f * sc * (q + 16 * high) - 0.25f * m));
    }

    // Q6_K: element e has level (e * 7) % 64 and sub-block scale (s - 8).
    BlockQ6_K k6{};
    k6.d = f32_to_f16(0.125f);
    for (int s = 0; s < 16; ++s) k6.scales[s] = static_cast<int8_t>(s - 8);
    for (int e = 0; e < 256; ++e) {
        const int q = (e * 7) % 64, h = e / 128, r = e % 128;
        uint8_t& lo = k6.ql[64 * h + r % 64];
        lo |= static_cast<uint8_t>(r < 64 ? (q & 0xF) : (q & 0xF) << 4);
        k6.qh[32 * h + r % 32] |= static_cast<uint8_t>((q >> 4) << (2 * (r / 32)));
    }
    dequantize_row_q6_K(&k6, y, 256);
    for (int e = 0; e < 256; ++e) CHECK(y[e] == 0.125f * (e / 16 - 8) * ((e * 7) % 64 - 32));
}

TEST_CASE("quantization error stays within what each format's bits allow", "[kernels]") {
    // Relative RMS error on normal data. Each step of grid is about 2 * max / levels, and a
    // uniform rounding error has RMS step / sqrt(12): for Q8_0 (255 levels over +-2.5 sigma
    // in a block of 32) that is ~0.006; Q4_0 ~0.09; the K-quants' fitted scale and min per
    // sub-block do better than that at 4 and 5 bits. kiln measures 0.0053 (q8_0), 0.086
    // (q4_0), 0.072 (q4_k), 0.036 (q5_k), 0.018 (q6_k); the bounds are about 1.3x those.
    struct Bound {
        DType type;
        double max_rel_rmse;
    };
    std::mt19937 rng(3);
    const std::vector<float> x = normal_floats(64 * 1024, rng);
    for (const Bound& b : {Bound{DType::Q8_0, 0.007}, Bound{DType::Q4_0, 0.11}, Bound{DType::Q4_K, 0.095},
                           Bound{DType::Q5_K, 0.047}, Bound{DType::Q6_K, 0.024}, Bound{DType::F16, 0.0003},
                           Bound{DType::BF16, 0.0022}}) {
        std::vector<uint8_t> q(row_bytes(info(b.type), x.size()));
        std::vector<float> back(x.size());
        quantize_row(b.type, x.data(), q.data(), x.size());
        dequantize_row(b.type, q.data(), back.data(), x.size());
        double err = 0.0, ref = 0.0;
        for (size_t i = 0; i < x.size(); ++i) {
            err += (back[i] - x[i]) * double(back[i] - x[i]);
            ref += x[i] * double(x[i]);
        }
        const double rel = std::sqrt(err / ref);
        INFO(info(b.type).name << ": relative RMS error " << rel);
        CHECK(rel < b.max_rel_rmse);
    }
}

TEST_CASE("rmsnorm, rope and swiglu follow their definitions", "[kernels]") {
    std::vector<float> x = {1.0f, -2.0f, 3.0f, -4.0f}, w = {1.0f, 0.5f, 2.0f, 1.0f}, out(4);
    rmsnorm(out.data(), x.data(), w.data(), 4, 0.0f);
    const float rms = std::sqrt((1 + 4 + 9 + 16) / 4.0f);
    for (size_t i = 0; i < 4; ++i) CHECK(out[i] == Approx(x[i] / rms * w[i]));

    // Two heads of 4; rot_dim 4 rotates pairs (0,1) by pos and (2,3) by pos / 100.
    std::vector<float> h = {1, 0, 1, 0, 0, 1, 0, 1};
    float cs[4];
    rope_table(3, 4, 10000.0f, 1.0f, nullptr, 1.0f, cs);
    rope(h.data(), 2, 4, 4, cs);
    CHECK(h[0] == Approx(std::cos(3.0f)));
    CHECK(h[1] == Approx(std::sin(3.0f)));
    CHECK(h[2] == Approx(std::cos(0.03f)));
    CHECK(h[5] == Approx(std::cos(3.0f)));
    CHECK(h[4] == Approx(-std::sin(3.0f)));

    // NeoX pairs: (0, 2) by pos, (1, 3) by pos / 100; a linear scale of 1/2 halves the angles
    // and mscale 2 doubles the results.
    std::vector<float> nx = {1, 1, 0, 0};
    rope_table(3, 4, 10000.0f, 0.5f, nullptr, 2.0f, cs);
    rope_neox(nx.data(), 1, 4, 4, cs);
    CHECK(nx[0] == Approx(2 * std::cos(1.5f)));
    CHECK(nx[2] == Approx(2 * std::sin(1.5f)));
    CHECK(nx[1] == Approx(2 * std::cos(0.015f)));
    CHECK(nx[3] == Approx(2 * std::sin(0.015f)));

    std::vector<float> g = {0.0f, 1.0f, -1.0f}, u = {2.0f, 2.0f, 2.0f};
    swiglu(Isa::scalar, g.data(), u.data(), 3);
    CHECK(g[0] == 0.0f);
    CHECK(g[1] == Approx(2.0f / (1.0f + std::exp(-1.0f))));
    CHECK(g[2] == Approx(-2.0f / (1.0f + std::exp(1.0f))));

    std::vector<float> e = {0.0f, 1.0f, -3.0f}, gelu_of(3);
    for (size_t i = 0; i < 3; ++i)
        gelu_of[i] = 0.5f * e[i] * (1.0f + std::tanh(std::sqrt(2.0f / 3.14159265f) * (e[i] + 0.044715f * e[i] * e[i] * e[i])));
    geglu(Isa::scalar, e.data(), u.data(), 3);
    for (size_t i = 0; i < 3; ++i) CHECK(e[i] == Approx(2.0f * gelu_of[i]));
    CHECK(gelu_of[1] == Approx(0.841192f).epsilon(1e-5));  // GELU's tanh form at 1
}

TEST_CASE("swiglu and geglu on every ISA stay within a few ulp of the scalar reference", "[kernels]") {
    // Gates over the whole useful range and past the clamps, more than one thread's chunk.
    const size_t n = 40000 + 7;
    std::vector<float> gate(n), up(n);
    for (size_t i = 0; i < n; ++i) {
        gate[i] = -100.0f + 200.0f * static_cast<float>(i) / n;
        up[i] = 1.0f + 0.001f * static_cast<float>(i % 97);
    }
    for (const auto glu : {swiglu, geglu}) {
        std::vector<float> ref = gate;
        glu(Isa::scalar, ref.data(), up.data(), n, 1);
        for (Isa isa : supported_isas()) {
            std::vector<float> out = gate;
            glu(isa, out.data(), up.data(), n, 2);
            // Relative where the result is not tiny; GELU's tail (1 - tanh near -1) is a
            // difference of nearly equal numbers, so there the bound is absolute.
            double worst = 0.0;
            for (size_t i = 0; i < n; ++i)
                worst = std::max(worst, std::fabs(double(out[i]) - ref[i]) / std::max(std::fabs(double(ref[i])), 1e-3));
            INFO(isa_name(isa) << (glu == swiglu ? " swiglu" : " geglu") << ": worst relative error " << worst);
            CHECK(worst < 2e-6);
        }
    }
}

namespace {

const uint8_t* bytes_of(const std::vector<float>& v) { return reinterpret_cast<const uint8_t*>(v.data()); }

// Straightforward softmax attention in double over a float cache: the reference. A query at
// pos sees positions (pos - window, pos] (window 0: all up to pos); scores times scale (0:
// 1 / sqrt(hd)).
std::vector<double> attention_reference(const std::vector<float>& q, size_t n_tokens, size_t first_pos,
                                        const std::vector<float>& k, const std::vector<float>& v, size_t n_head,
                                        size_t n_kv_head, size_t hd, size_t window = 0, double scale = 0.0) {
    const size_t kv_dim = n_kv_head * hd, group = n_head / n_kv_head;
    if (scale == 0.0) scale = 1.0 / std::sqrt(double(hd));
    std::vector<double> out(n_tokens * n_head * hd);
    for (size_t t = 0; t < n_tokens; ++t)
        for (size_t h = 0; h < n_head; ++h) {
            const size_t n = first_pos + t + 1, off = h / group * hd, lo = window > 0 && n > window ? n - window : 0;
            std::vector<double> s(n);
            double max = -1e300, sum = 0.0;
            for (size_t p = lo; p < n; ++p) {
                for (size_t d = 0; d < hd; ++d) s[p] += double(q[(t * n_head + h) * hd + d]) * k[p * kv_dim + off + d];
                s[p] *= scale;
                max = std::max(max, s[p]);
            }
            for (size_t p = lo; p < n; ++p) sum += (s[p] = std::exp(s[p] - max));
            for (size_t p = lo; p < n; ++p)
                for (size_t d = 0; d < hd; ++d) out[(t * n_head + h) * hd + d] += s[p] / sum * v[p * kv_dim + off + d];
        }
    return out;
}

}  // namespace

TEST_CASE("attention is causal and shares KV heads across their query group", "[kernels]") {
    // 2 query heads, 1 KV head of size 2, three cached positions.
    const AttentionShape shape{2, 1, 2, DType::F32, 2 * sizeof(float), 2 * sizeof(float)};
    const std::vector<float> k = {1, 0, 0, 1, 1, 1}, v = {1, 2, 3, 4, 5, 6};
    const std::vector<float> q = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // zero queries: uniform weights
    for (Isa isa : supported_isas()) {
        INFO(isa_name(isa));
        std::vector<float> out(12), scratch(attention_scratch_floats(shape, 2));
        const AttentionSeq seq{q.data(), 3, 0, bytes_of(k), bytes_of(v), out.data()};
        attention(isa, shape, {&seq, 1}, 4, 4, scratch.data(), 2);
        CHECK(out[0] == Approx(1.0f));  // token 0 sees only position 0
        CHECK(out[1] == Approx(2.0f));
        CHECK(out[4] == Approx(2.0f));  // token 1: mean of positions 0 and 1
        CHECK(out[8] == Approx(3.0f));  // token 2: mean of all three
        CHECK(out[10] == Approx(3.0f)); // second head, same KV head
        CHECK(out[11] == Approx(4.0f));

        // Two sequences in one call give exactly what each gives alone.
        const std::vector<float> q2 = {1, 0, 0, 1, 0.5f, 0.5f, 1, 1};  // 2 tokens at positions 1 and 2
        std::vector<float> alone(8), together_a(12), together_b(8);
        const AttentionSeq second{q2.data(), 2, 1, bytes_of(k), bytes_of(v), alone.data()};
        attention(isa, shape, {&second, 1}, 4, 4, scratch.data(), 1);
        const AttentionSeq both[] = {{q.data(), 3, 0, bytes_of(k), bytes_of(v), together_a.data()},
                                     {q2.data(), 2, 1, bytes_of(k), bytes_of(v), together_b.data()}};
        attention(isa, shape, both, 4, 4, scratch.data(), 2);
        CHECK(together_a == out);
        CHECK(together_b == alone);
    }
}

TEST_CASE("blocked attention matches plain softmax attention for every cache type and tiling", "[kernels]") {
    // Shapes around the kernel's edges: heads of 8 (under one vector), 64 and 80 (a masked
    // tail), 192 and 256 (Gemma's), groups of 1, 4 and 8; 150 positions (three blocks of 64,
    // the last partial).
    struct Shape {
        size_t n_head, n_kv_head, hd;
    };
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const Shape& sh : {Shape{4, 4, 8}, Shape{8, 2, 64}, Shape{8, 1, 80}, Shape{16, 2, 32}, Shape{4, 1, 256}, Shape{2, 2, 192}}) {
        const size_t n_pos = 150, kv_dim = sh.n_kv_head * sh.hd, q_dim = sh.n_head * sh.hd;
        std::vector<float> k(n_pos * kv_dim), v(n_pos * kv_dim), q(n_pos * q_dim);
        for (float* x : {k.data(), v.data(), q.data()})
            for (size_t i = 0; i < (x == q.data() ? q.size() : k.size()); ++i) x[i] = normal(rng);
        const auto expected = attention_reference(q, n_pos, 0, k, v, sh.n_head, sh.n_kv_head, sh.hd);
        for (DType type : {DType::F32, DType::F16, DType::Q8_0}) {
            if (!kv_type_fits(type, sh.hd)) continue;
            // The cache in this type, and the values it holds, for the reference's bound.
            const size_t rb = row_bytes(*type_info(static_cast<uint32_t>(type)), kv_dim);
            std::vector<uint8_t> kc(n_pos * rb), vc(n_pos * rb);
            for (size_t p = 0; p < n_pos; ++p) {
                quantize_row(type, &k[p * kv_dim], &kc[p * rb], kv_dim);
                quantize_row(type, &v[p * kv_dim], &vc[p * rb], kv_dim);
            }
            const AttentionShape shape{sh.n_head, sh.n_kv_head, sh.hd, type, rb, row_bytes(*type_info(static_cast<uint32_t>(type)), sh.hd)};
            const double tol = type == DType::F32 ? 1e-5 : type == DType::F16 ? 2e-3 : 4e-2;
            for (Isa isa : supported_isas()) {
                std::vector<float> scratch(attention_scratch_floats(shape, 2));
                std::vector<float> whole(n_pos * q_dim);
                const AttentionSeq all{q.data(), n_pos, 0, kc.data(), vc.data(), whole.data()};
                attention(isa, shape, {&all, 1}, q_dim, q_dim, scratch.data(), 2);
                double worst = 0.0;
                for (size_t i = 0; i < whole.size(); ++i) worst = std::max(worst, std::fabs(whole[i] - expected[i]));
                INFO(isa_name(isa) << ", cache " << type_info(static_cast<uint32_t>(type))->name << ", heads " << sh.n_head
                                   << "/" << sh.n_kv_head << " of " << sh.hd << ": worst " << worst);
                CHECK(worst < tol);
                // The same cache laid out head by head (the engine's layout): bit for bit.
                {
                    const size_t hb = row_bytes(*type_info(static_cast<uint32_t>(type)), sh.hd);
                    std::vector<uint8_t> kh(kc.size()), vh(vc.size());
                    for (size_t h = 0; h < sh.n_kv_head; ++h)
                        for (size_t p = 0; p < n_pos; ++p) {
                            std::memcpy(&kh[(h * n_pos + p) * hb], &kc[p * rb + h * hb], hb);
                            std::memcpy(&vh[(h * n_pos + p) * hb], &vc[p * rb + h * hb], hb);
                        }
                    const AttentionShape by_head{sh.n_head, sh.n_kv_head, sh.hd, type, hb, n_pos * hb};
                    std::vector<float> out(n_pos * q_dim);
                    const AttentionSeq seq{q.data(), n_pos, 0, kh.data(), vh.data(), out.data()};
                    attention(isa, by_head, {&seq, 1}, q_dim, q_dim, scratch.data(), 2);
                    CHECK(std::memcmp(out.data(), whole.data(), whole.size() * sizeof(float)) == 0);
                }
                // The same queries in chunks of 13 and one at a time, on 1 thread: bit for bit.
                for (size_t chunk : {size_t{13}, size_t{1}}) {
                    std::vector<float> pieces(n_pos * q_dim);
                    for (size_t t0 = 0; t0 < n_pos; t0 += chunk) {
                        const size_t n = std::min(chunk, n_pos - t0);
                        const AttentionSeq part{&q[t0 * q_dim], n, t0, kc.data(), vc.data(), &pieces[t0 * q_dim]};
                        attention(isa, shape, {&part, 1}, q_dim, q_dim, scratch.data(), 1);
                    }
                    CHECK(std::memcmp(pieces.data(), whole.data(), whole.size() * sizeof(float)) == 0);
                }
            }
        }
    }
}

TEST_CASE("sliding-window attention matches the reference, from a whole cache and from a ring", "[kernels]") {
    // Windows of 1, 40 and 100 over 150 positions, a scale of its own; the ring of 64 positions
    // filled 13 tokens at a time (as the engine fills it) gives the whole cache's bits.
    const size_t n_head = 4, n_kv_head = 2, hd = 64, n_pos = 150, kv_dim = n_kv_head * hd, q_dim = n_head * hd;
    std::mt19937 rng(9);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> k(n_pos * kv_dim), v(n_pos * kv_dim), q(n_pos * q_dim);
    for (float& x : k) x = normal(rng);
    for (float& x : v) x = normal(rng);
    for (float& x : q) x = normal(rng);
    const size_t hb = hd * sizeof(float);
    std::vector<float> kh(n_pos * kv_dim), vh(n_pos * kv_dim);  // head by head
    for (size_t h = 0; h < n_kv_head; ++h)
        for (size_t p = 0; p < n_pos; ++p)
            for (size_t d = 0; d < hd; ++d) {
                kh[(h * n_pos + p) * hd + d] = k[p * kv_dim + h * hd + d];
                vh[(h * n_pos + p) * hd + d] = v[p * kv_dim + h * hd + d];
            }
    for (size_t window : {size_t{1}, size_t{40}, size_t{100}}) {
        const float scale = 0.3f;
        const auto expected = attention_reference(q, n_pos, 0, k, v, n_head, n_kv_head, hd, window, scale);
        for (Isa isa : supported_isas()) {
            INFO(isa_name(isa) << ", window " << window);
            const AttentionShape shape{n_head, n_kv_head, hd, DType::F32, hb, n_pos * hb, scale, window, 0};
            std::vector<float> scratch(attention_scratch_floats(shape, 2)), whole(n_pos * q_dim);
            const AttentionSeq all{q.data(), n_pos, 0, bytes_of(kh), bytes_of(vh), whole.data()};
            attention(isa, shape, {&all, 1}, q_dim, q_dim, scratch.data(), 2);
            double worst = 0.0;
            for (size_t i = 0; i < whole.size(); ++i) worst = std::max(worst, std::fabs(whole[i] - expected[i]));
            CHECK(worst < 1e-5);

            const size_t chunk = 13, ring = ring_positions(window, chunk);
            CHECK(ring % 64 == 0);
            CHECK(ring >= window + chunk - 1);
            std::vector<float> kr(ring * kv_dim), vr(ring * kv_dim), pieces(n_pos * q_dim);
            const AttentionShape ringed{n_head, n_kv_head, hd, DType::F32, hb, ring * hb, scale, window, ring};
            for (size_t t0 = 0; t0 < n_pos; t0 += chunk) {
                const size_t n = std::min(chunk, n_pos - t0);
                for (size_t h = 0; h < n_kv_head; ++h)
                    for (size_t p = t0; p < t0 + n; ++p) {
                        std::copy_n(&kh[(h * n_pos + p) * hd], hd, &kr[(h * ring + p % ring) * hd]);
                        std::copy_n(&vh[(h * n_pos + p) * hd], hd, &vr[(h * ring + p % ring) * hd]);
                    }
                const AttentionSeq part{&q[t0 * q_dim], n, t0, bytes_of(kr), bytes_of(vr), &pieces[t0 * q_dim]};
                attention(isa, ringed, {&part, 1}, q_dim, q_dim, scratch.data(), 1);
            }
            CHECK(std::memcmp(pieces.data(), whole.data(), whole.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("the AVX-512 activation quantizers give the reference's bytes", "[kernels]") {
    if (!isa_supported(Isa::avx512)) {
        WARN("SKIPPED: no AVX-512 on this CPU");
        return;
    }
    // Normal values, a zero block, halves that land exactly between two levels, wide ranges.
    const size_t n = 4 * QK_K;
    std::vector<float> x(n);
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (size_t i = 0; i < n; ++i) x[i] = normal(rng) * (i < QK_K ? 1.0f : i < 2 * QK_K ? 1e-3f : 300.0f);
    std::fill(x.begin() + 3 * QK_K, x.begin() + 3 * QK_K + 32, 0.0f);
    for (size_t i = 0; i < 32; ++i) x[3 * QK_K + 64 + i] = (i % 2 ? -0.5f : 0.5f) * float(i);  // ties at 127 / 31
    std::vector<BlockQ8_0> a(n / QK8_0), b(n / QK8_0);
    quantize_row_q8_0(x.data(), a.data(), n);
    quantize_row_q8_0_avx512(x.data(), b.data(), n);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof a[0]) == 0);
    std::fill(x.begin() + 3 * QK_K, x.begin() + 4 * QK_K, 0.0f);  // a zero super-block
    std::vector<BlockQ8_K> c(n / QK_K), d(n / QK_K);
    quantize_row_q8_K(x.data(), c.data(), n);
    quantize_row_q8_K_avx512(x.data(), d.data(), n);
    CHECK(std::memcmp(c.data(), d.data(), c.size() * sizeof c[0]) == 0);

    // F16 (the KV cache): past the largest half, the subnormal range, exact ties, and a
    // length that leaves a scalar tail.
    std::vector<float> h = {70000.0f, -65520.0f, 65519.0f, 1e-6f, -3e-8f, 6e-8f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 0.0f, -0.0f};
    for (size_t i = 0; i < 3 * QK_K; ++i) h.push_back(x[i]);
    std::vector<uint16_t> e(h.size()), f(h.size());
    quantize_row(DType::F16, h.data(), e.data(), h.size());
    quantize_row_f16_avx512(h.data(), f.data(), h.size());
    CHECK(e == f);
}
