// Quantizers of the codebook formats (kernels/quants_iq.h). Every format reads
//   x = factor * (2 l + 1) * q
// with l a small integer per unit of 16 or 32 elements and q a level from the format's grid
// (magnitudes with signs, or IQ1's ternary levels shifted by +-1/8). For a given unit scale s,
// the best grid entry of a group minimizes
//   sum_i w_i (a_i - s g_i)^2 = A - 2 s B(g) + s^2 C(g),   B = sum w a g,  C = sum w g^2,
// so B and C are computed once per entry and every trial scale costs three operations per
// entry: the search is exhaustive over the codebook, not over a neighbourhood of the rounded
// point. A group of eight whose sign parity the format cannot store flips the sign of one
// element; the cheapest is the one of least w a g, which lowers B by twice that.
//
// Per super-block: each unit's best float scale over trial scales (8 coarse, 4 fine); the
// super-block factor from the largest of them, tried at 5 values, each unit taking the better
// of the two integer scales either side of its own at the f16 factor actually stored; then
// the grid search again at the chosen scales.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/quantize_iq.h"
#include "kernels/quants_iq.h"

namespace kiln {

namespace {

enum class Signs { parity, free, shift_group, shift_unit };

// Each format's encoding: its grid, units and where the bits go (the decoders in
// kernels/quants_iq.h read the same places).
struct Choice {
    uint16_t d = 0;                 // f16 bits of the super-block scale
    std::array<uint8_t, 16> l{};    // per unit (16 units of 16, or the first 8 of 32)
    std::array<uint16_t, 64> e{};   // per slot: grid entry (W = 4: two slots per group of 8)
    std::array<uint8_t, 32> s{};    // per group of 8: sign bits, or 1 for a shift of -1/8
};

struct EncIq2xxs {
    using Block = BlockIQ2_XXS;
    static constexpr int width = 8, entries = 256, unit = 32, lmax = 15;
    static constexpr Signs signs = Signs::parity;
    static constexpr float mult = 0.125f;
    static uint8_t level(int e, int i) { return static_cast<uint8_t>(kIq2xxsGrid[e] >> 8 * i); }
    static void pack(Block& b, const Choice& c) {
        b.d = c.d;
        for (int ib = 0; ib < 8; ++ib) {
            uint32_t idx = 0, aux = uint32_t{c.l[ib]} << 28;
            for (int k = 0; k < 4; ++k) {
                idx |= uint32_t{c.e[4 * ib + k]} << 8 * k;
                aux |= uint32_t{c.s[4 * ib + k] & 127u} << 7 * k;
            }
            b.qs[4 * ib] = static_cast<uint16_t>(idx), b.qs[4 * ib + 1] = static_cast<uint16_t>(idx >> 16);
            b.qs[4 * ib + 2] = static_cast<uint16_t>(aux), b.qs[4 * ib + 3] = static_cast<uint16_t>(aux >> 16);
        }
    }
};

struct EncIq2xs {
    using Block = BlockIQ2_XS;
    static constexpr int width = 8, entries = 512, unit = 16, lmax = 15;
    static constexpr Signs signs = Signs::parity;
    static constexpr float mult = 0.125f;
    static uint8_t level(int e, int i) { return static_cast<uint8_t>(kIq2xsGrid[e] >> 8 * i); }
    static void pack(Block& b, const Choice& c) {
        b.d = c.d;
        for (int g = 0; g < 32; ++g) b.qs[g] = static_cast<uint16_t>(c.e[g] | (c.s[g] & 127u) << 9);
        for (int ib = 0; ib < 8; ++ib) b.scales[ib] = static_cast<uint8_t>(c.l[2 * ib] | c.l[2 * ib + 1] << 4);
    }
};

struct EncIq2s {
    using Block = BlockIQ2_S;
    static constexpr int width = 8, entries = 1024, unit = 16, lmax = 15;
    static constexpr Signs signs = Signs::free;
    static constexpr float mult = 0.125f;
    static uint8_t level(int e, int i) { return static_cast<uint8_t>(kIq2sGrid[e] >> 8 * i); }
    static void pack(Block& b, const Choice& c) {
        b.d = c.d;
        std::memset(b.qh, 0, sizeof b.qh);
        for (int g = 0; g < 32; ++g) {
            b.qs[g] = static_cast<uint8_t>(c.e[g]);
            b.qs[32 + g] = c.s[g];
            b.qh[g / 4] |= static_cast<uint8_t>((c.e[g] >> 8) << 2 * (g % 4));
        }
        for (int ib = 0; ib < 8; ++ib) b.scales[ib] = static_cast<uint8_t>(c.l[2 * ib] | c.l[2 * ib + 1] << 4);
    }
};

struct EncIq3xxs {
    using Block = BlockIQ3_XXS;
    static constexpr int width = 4, entries = 256, unit = 32, lmax = 15;
    static constexpr Signs signs = Signs::parity;
    static constexpr float mult = 0.25f;
    static uint8_t level(int e, int i) { return static_cast<uint8_t>(kIq3xxsGrid[e] >> 8 * i); }
    static void pack(Block& b, const Choice& c) {
        b.d = c.d;
        for (int slot = 0; slot < 64; ++slot) b.qs[slot] = static_cast<uint8_t>(c.e[slot]);
        for (int ib = 0; ib < 8; ++ib) {
            uint32_t aux = uint32_t{c.l[ib]} << 28;
            for (int k = 0; k < 4; ++k) aux |= uint32_t{c.s[4 * ib + k] & 127u} << 7 * k;
            std::memcpy(b.qs + 64 + 4 * ib, &aux, 4);
        }
    }
};

struct EncIq3s {
    using Block = BlockIQ3_S;
    static constexpr int width = 4, entries = 512, unit = 32, lmax = 15;
    static constexpr Signs signs = Signs::free;
    static constexpr float mult = 1.0f;
    static uint8_t level(int e, int i) { return static_cast<uint8_t>(kIq3sGrid[e] >> 8 * i); }
    static void pack(Block& b, const Choice& c) {
        b.d = c.d;
        std::memset(b.qh, 0, sizeof b.qh);
        std::memset(b.scales, 0, sizeof b.scales);
        for (int slot = 0; slot < 64; ++slot) {
            b.qs[slot] = static_cast<uint8_t>(c.e[slot]);
            b.qh[slot / 8] |= static_cast<uint8_t>((c.e[slot] >> 8) << slot % 8);
        }
        for (int g = 0; g < 32; ++g) b.signs[g] = c.s[g];
        for (int ib = 0; ib < 8; ++ib) b.scales[ib / 2] |= static_cast<uint8_t>(c.l[ib] << 4 * (ib % 2));
    }
};

struct EncIq1s {
    using Block = BlockIQ1_S;
    static constexpr int width = 8, entries = 2048, unit = 32, lmax = 7;
    static constexpr Signs signs = Signs::shift_unit;
    static constexpr float mult = 0.125f;
    static uint8_t level(int e, int i) { return static_cast<uint8_t>(kIq1sGrid[e] >> 8 * i); }
    static void pack(Block& b, const Choice& c) {
        b.d = c.d;
        for (int ib = 0; ib < 8; ++ib) {
            uint32_t h = uint32_t{c.l[ib]} << 12 | uint32_t{c.s[4 * ib]} << 15;
            for (int k = 0; k < 4; ++k) {
                b.qs[4 * ib + k] = static_cast<uint8_t>(c.e[4 * ib + k]);
                h |= static_cast<uint32_t>(c.e[4 * ib + k] >> 8) << 3 * k;
            }
            b.qh[ib] = static_cast<uint16_t>(h);
        }
    }
};

struct EncIq1m {
    using Block = BlockIQ1_M;
    static constexpr int width = 8, entries = 2048, unit = 16, lmax = 7;
    static constexpr Signs signs = Signs::shift_group;
    static constexpr float mult = 0.125f;
    static uint8_t level(int e, int i) { return static_cast<uint8_t>(kIq1sGrid[e] >> 8 * i); }
    static void pack(Block& b, const Choice& c) {
        std::memset(b.qh, 0, sizeof b.qh);
        for (int g = 0; g < 32; ++g) {
            b.qs[g] = static_cast<uint8_t>(c.e[g]);
            b.qh[g / 2] |= static_cast<uint8_t>(((c.e[g] >> 8) | c.s[g] << 3) << 4 * (g % 2));
        }
        for (int k = 0; k < 4; ++k) {
            // units 4k .. 4k + 3 in 3-bit fields, and nibble k of the f16 factor on top
            const uint32_t v = c.l[4 * k] | c.l[4 * k + 1] << 3 | c.l[4 * k + 2] << 6 | c.l[4 * k + 3] << 9 |
                               uint32_t{(c.d >> 4 * k) & 0xFu} << 12;
            b.scales[2 * k] = static_cast<uint8_t>(v), b.scales[2 * k + 1] = static_cast<uint8_t>(v >> 8);
        }
    }
};

// The codebook as floats, level by level: element i of entry e at [i * entries + e], so that
// the per-entry sums below run over contiguous entries (IQ1: the ternary levels times 8, to
// which the shift adds +-1, in the format's eighths).
template <class F>
const std::vector<float>& grid() {
    static const std::vector<float> g = [] {
        std::vector<float> out(static_cast<size_t>(F::entries) * F::width);
        for (int e = 0; e < F::entries; ++e)
            for (int i = 0; i < F::width; ++i) {
                const uint8_t v = F::level(e, i);
                out[static_cast<size_t>(i) * F::entries + e] =
                    F::signs == Signs::shift_group || F::signs == Signs::shift_unit ? 8.0f * static_cast<int8_t>(v) : v;
            }
        return out;
    }();
    return g;
}

// Four lanes of floats or ints (GCC and Clang vector extensions: plain code that maps onto
// the baseline's SSE registers).
typedef float F4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));

inline F4 load4(const float* p) {
    F4 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// The least s^2 C[e] - 2 s B[e] over the n entries (a multiple of 8) and the first entry that
// has it. min is exact, so the lanes' order changes nothing.
float min_cost(const float* B, const float* C, int n, float s, int* entry) {
    const F4 s2 = F4{} + s * s, t = F4{} + 2 * s;
    F4 m0 = F4{} + INFINITY, m1 = m0;
    I4 at0 = I4{} + 0, at1 = at0, e0 = I4{0, 1, 2, 3}, e1 = e0 + 4;
    for (int e = 0; e < n; e += 8, e0 += 8, e1 += 8) {
        const F4 v0 = s2 * load4(C + e) - t * load4(B + e);
        const F4 v1 = s2 * load4(C + e + 4) - t * load4(B + e + 4);
        const I4 less0 = v0 < m0, less1 = v1 < m1;
        m0 = less0 ? v0 : m0, m1 = less1 ? v1 : m1;
        at0 = less0 ? e0 : at0, at1 = less1 ? e1 : at1;
    }
    float best = INFINITY;
    for (int k = 0; k < 4; ++k) best = std::min({best, m0[k], m1[k]});
    if (entry != nullptr) {
        int first = n;
        for (int k = 0; k < 4; ++k) {
            if (m0[k] == best) first = std::min(first, static_cast<int>(at0[k]));
            if (m1[k] == best) first = std::min(first, static_cast<int>(at1[k]));
        }
        *entry = first == n ? 0 : first;
    }
    return best;
}

template <class F>
constexpr bool kShift = F::signs == Signs::shift_group || F::signs == Signs::shift_unit;

// Per slot and variant (the shift's sign for IQ1; for a group whose parity must be repaired,
// the flipped form), the terms B and C of every grid entry, with what the choice needs to
// be encoded.
template <class F>
class Unit {
public:
    static constexpr int groups = F::unit / 8, slots_per_group = 8 / F::width, slots = groups * slots_per_group;
    static constexpr int variants = kShift<F> ? 2 : 1;

    // x, w: the unit's elements and their weights.
    void prepare(const float* x, const float* w) {
        const std::vector<float>& g = grid<F>();
        std::copy_n(w, F::unit, w_);
        for (int k = 0; k < groups; ++k) {
            uint8_t neg = 0;
            for (int i = 0; i < 8; ++i) {
                const float v = x[8 * k + i];
                a_[8 * k + i] = kShift<F> ? v : std::fabs(v);
                if (v < 0) neg |= static_cast<uint8_t>(1u << i);
            }
            neg_[k] = neg;
            odd_[k] = F::signs == Signs::parity && (__builtin_popcount(neg) & 1);
        }
        for (int s = 0; s < slots; ++s)
            for (int v = 0; v < variants; ++v) {
                const float shift = variants == 2 ? (v == 0 ? 1.0f : -1.0f) : 0.0f;
                const float* a = a_ + s * F::width;
                const float* ws = w + s * F::width;
                float* B = B_[s][v].data();
                float* C = C_[s][v].data();
                float* M = Bf_[s].data();
                std::fill_n(B, F::entries, 0.0f);
                std::fill_n(C, F::entries, 0.0f);
                std::fill_n(M, F::entries, INFINITY);
                for (int i = 0; i < F::width; ++i) {
                    const float p = ws[i] * a[i], wi = ws[i];
                    const float* gi = &g[static_cast<size_t>(i) * F::entries];
                    for (int e = 0; e < F::entries; ++e) {
                        const float q = gi[e] + shift;
                        B[e] += p * q;
                        C[e] += wi * q * q;
                        M[e] = std::min(M[e], p * q);
                    }
                }
                if (odd_[s / slots_per_group])  // the flipped form: the least w a g subtracted twice
                    for (int e = 0; e < F::entries; ++e) M[e] = B[e] - 2 * M[e];
            }
    }

    // The least cost (A - sum of w x^2 left out) at unit scale s, and the entries, signs or
    // shifts it takes into c (slot and group indices offset by the unit's position).
    float cost(float s, Choice* c, int first_group) const {
        float best = INFINITY;
        for (int uv = 0; uv < (F::signs == Signs::shift_unit ? 2 : 1); ++uv) {
            float total = 0;
            for (int k = 0; k < groups; ++k) total += group_cost(k, s, uv, nullptr, 0);
            if (total < best) {
                best = total;
                if (c != nullptr)
                    for (int k = 0; k < groups; ++k) group_cost(k, s, uv, c, first_group);
            }
        }
        return best;
    }

private:
    // The least cost of a slot's entries at scale s, and the entry when `entry` is asked for.
    static float slot_cost(const float* B, const float* C, float s, int* entry) { return min_cost(B, C, F::entries, s, entry); }

    float group_cost(int k, float s, int unit_variant, Choice* c, int first_group) const {
        const int s0 = k * slots_per_group;
        if constexpr (kShift<F>) {
            float best = INFINITY;
            for (int v = 0; v < 2; ++v) {
                if (F::signs == Signs::shift_unit && v != unit_variant) continue;
                int e = 0;
                const float cost = slot_cost(B_[s0][v].data(), C_[s0][v].data(), s, c != nullptr ? &e : nullptr);
                if (cost < best) {
                    best = cost;
                    if (c != nullptr) c->e[first_group + k] = static_cast<uint16_t>(e), c->s[first_group + k] = static_cast<uint8_t>(v);
                }
            }
            return best;
        } else {
            float cost[2], cost_f[2];
            int e[2] = {}, ef[2] = {};
            const bool want = c != nullptr;
            for (int j = 0; j < slots_per_group; ++j) {
                cost[j] = slot_cost(B_[s0 + j][0].data(), C_[s0 + j][0].data(), s, want ? &e[j] : nullptr);
                if (odd_[k]) cost_f[j] = slot_cost(Bf_[s0 + j].data(), C_[s0 + j][0].data(), s, want ? &ef[j] : nullptr);
            }
            float total = cost[0] + (slots_per_group == 2 ? cost[1] : 0.0f);
            int flip = -1;  // the slot whose flipped form is taken
            if (odd_[k]) {
                total = INFINITY;
                for (int j = 0; j < slots_per_group; ++j) {
                    const float t = cost_f[j] + (slots_per_group == 2 ? cost[1 - j] : 0.0f);
                    if (t < total) total = t, flip = j;
                }
            }
            if (c != nullptr) {
                uint8_t signs = neg_[k];
                for (int j = 0; j < slots_per_group; ++j) {
                    const int entry = j == flip ? ef[j] : e[j];
                    c->e[(first_group + k) * slots_per_group + j] = static_cast<uint16_t>(entry);
                    if (j == flip) signs ^= static_cast<uint8_t>(1u << (j * F::width + flipped(s0 + j, entry)));
                }
                c->s[first_group + k] = signs;
            }
            return total;
        }
    }

    // The element of slot `slot` whose sign entry e flips: the least w a g (as prepare() took).
    int flipped(int slot, int e) const {
        const std::vector<float>& g = grid<F>();
        const float* a = a_ + slot * F::width;
        const float* ws = w_ + slot * F::width;
        const auto term = [&](int i) { return ws[i] * a[i] * g[static_cast<size_t>(i) * F::entries + e]; };
        int best = 0;
        for (int i = 1; i < F::width; ++i)
            if (term(i) < term(best)) best = i;
        return best;
    }

    float a_[F::unit];
    float w_[F::unit];
    uint8_t neg_[groups];
    bool odd_[groups];
    std::array<std::array<float, F::entries>, variants> B_[slots], C_[slots];
    std::array<float, F::entries> Bf_[slots];  // the flipped form's B (the group's parity is odd)
};

template <class F>
void quantize_superblock(const float* x, const float* w, typename F::Block& out, std::vector<Unit<F>>& units) {
    constexpr int n_units = 256 / F::unit;
    // The largest level a unit's scale maps its largest element to.
    const std::vector<float>& g = grid<F>();
    const float gmax = kShift<F> ? 9.0f : *std::max_element(g.begin(), g.end());

    float sumw_x2[n_units], scale[n_units], amax_all = 0;
    for (int u = 0; u < n_units; ++u) {
        const float* xu = x + u * F::unit;
        float amax = 0, a = 0;
        for (int i = 0; i < F::unit; ++i) {
            amax = std::max(amax, std::fabs(xu[i]));
            a += w[u * F::unit + i] * xu[i] * xu[i];
        }
        sumw_x2[u] = a;
        amax_all = std::max(amax_all, amax);
        units[u].prepare(xu, w + u * F::unit);
        // The unit's best float scale: coarse trials, then finer ones around the best.
        float best = INFINITY;
        scale[u] = 0;
        if (!(amax > 0)) continue;
        const float unit_scale = amax / gmax;
        float t_best = 0;
        for (int k = 0; k < 8; ++k) {
            const float t = 0.55f + 0.09f * k, c = units[u].cost(t * unit_scale, nullptr, 0);
            if (c < best) best = c, t_best = t;
        }
        const float t0 = t_best;
        for (const float dt : {-0.06f, -0.03f, 0.03f, 0.06f}) {
            const float c = units[u].cost((t0 + dt) * unit_scale, nullptr, 0);
            if (c < best) best = c, t_best = t0 + dt;
        }
        scale[u] = t_best * unit_scale;
    }
    Choice choice;
    if (!(amax_all > 0) || !std::isfinite(amax_all)) {
        F::pack(out, choice);  // d = 0: every element decodes to 0
        return;
    }
    const float smax = *std::max_element(scale, scale + n_units);
    float best_total = INFINITY;
    uint16_t best_d = 0;
    std::array<uint8_t, 16> best_l{};
    for (int k = 0; k < 5; ++k) {
        const float f0 = smax / (2 * F::lmax + 1) * (0.92f + 0.04f * k);
        const uint16_t d = f32_to_f16(f0 / F::mult);
        const float f = f16_to_f32(d) * F::mult;
        if (!(f > 0)) continue;
        float total = 0;
        std::array<uint8_t, 16> l{};
        for (int u = 0; u < n_units; ++u) {
            // The two integer scales either side of the unit's own.
            const int l0 = std::clamp(static_cast<int>(std::floor((scale[u] / f - 1) / 2)), 0, F::lmax);
            float best = INFINITY;
            for (int li = l0; li <= std::min(l0 + 1, F::lmax); ++li) {
                const float c = units[u].cost(f * (2 * li + 1), nullptr, 0);
                if (c < best) best = c, l[u] = static_cast<uint8_t>(li);
            }
            total += sumw_x2[u] + best;
        }
        if (total < best_total) best_total = total, best_d = d, best_l = l;
    }
    choice.d = best_d;
    choice.l = best_l;
    const float f = f16_to_f32(best_d) * F::mult;
    for (int u = 0; u < n_units; ++u) units[u].cost(f * (2 * best_l[u] + 1), &choice, u * (F::unit / 8));
    F::pack(out, choice);
}

template <class F>
void quantize(const float* x, typename F::Block* y, size_t n, const float* importance) {
    std::vector<Unit<F>> units(256 / F::unit);
    std::vector<float> ones(256, 1.0f);
    for (size_t b = 0; b < n / 256; ++b)
        quantize_superblock<F>(x + 256 * b, importance != nullptr ? importance + 256 * b : ones.data(), y[b], units);
}

}  // namespace

void quantize_row_iq2_xxs(const float* x, BlockIQ2_XXS* y, size_t n, const float* importance) { quantize<EncIq2xxs>(x, y, n, importance); }
void quantize_row_iq2_xs(const float* x, BlockIQ2_XS* y, size_t n, const float* importance) { quantize<EncIq2xs>(x, y, n, importance); }
void quantize_row_iq2_s(const float* x, BlockIQ2_S* y, size_t n, const float* importance) { quantize<EncIq2s>(x, y, n, importance); }
void quantize_row_iq3_xxs(const float* x, BlockIQ3_XXS* y, size_t n, const float* importance) { quantize<EncIq3xxs>(x, y, n, importance); }
void quantize_row_iq3_s(const float* x, BlockIQ3_S* y, size_t n, const float* importance) { quantize<EncIq3s>(x, y, n, importance); }
void quantize_row_iq1_s(const float* x, BlockIQ1_S* y, size_t n, const float* importance) { quantize<EncIq1s>(x, y, n, importance); }
void quantize_row_iq1_m(const float* x, BlockIQ1_M* y, size_t n, const float* importance) { quantize<EncIq1m>(x, y, n, importance); }

}  // namespace kiln
