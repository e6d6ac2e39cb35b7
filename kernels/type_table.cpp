#include "kernels/type_table.h"

#include <cstring>

#include "kernels/matmul_kernels.h"
#include "kernels/quants.h"
#include "kernels/quantize_iq.h"
#include "kernels/quants_iq.h"
#include "kernels/repack.h"

namespace kiln {

namespace {

// The row functions of kernels/quants.h over their blocks, as the table's untyped pointers.
template <class Block, void (*f)(const Block*, float*, size_t)>
void to_float(const void* x, float* y, size_t n) {
    f(static_cast<const Block*>(x), y, n);
}
template <class Block, void (*f)(const float*, Block*, size_t)>
void from_float(const float* x, void* y, size_t n) {
    f(x, static_cast<Block*>(y), n);
}
template <class Block, void (*f)(const float*, Block*, size_t, const float*)>
void from_float_weighted(const float* x, void* y, size_t n, const float* importance) {
    f(x, static_cast<Block*>(y), n, importance);
}
template <class Block, void (*f)(const float*, Block*, size_t, const float*)>
void from_float_plain(const float* x, void* y, size_t n) {
    f(x, static_cast<Block*>(y), n, nullptr);
}
void copy_f32(const void* x, float* y, size_t n) { std::memcpy(y, x, n * sizeof(float)); }
void copy_to_f32(const float* x, void* y, size_t n) { std::memcpy(y, x, n * sizeof(float)); }

using enum DType;

// Indexed by ggml type id; ids ggml removed (4, 5) have no name.
constexpr TypeTraits kTable[] = {
    {.type = F32, .info = {"f32", 1, 4}, .to_float = copy_f32, .from_float = copy_to_f32, .act_type = F32,
     .tile = {matmul_tile_f32_scalar, matmul_tile_f32_avx2, matmul_tile_f32_avx512}},
    {.type = F16, .info = {"f16", 1, 2}, .to_float = to_float<uint16_t, dequantize_row_f16>,
     .from_float = from_float<uint16_t, quantize_row_f16>, .from_float_avx512 = from_float<uint16_t, quantize_row_f16_avx512>,
     .act_type = F32, .tile = {matmul_tile_f16_scalar, matmul_tile_f16_avx2, matmul_tile_f16_avx512}},
    {.type = Q4_0, .info = {"q4_0", 32, 18}, .to_float = to_float<BlockQ4_0, dequantize_row_q4_0>,
     .from_float = from_float<BlockQ4_0, quantize_row_q4_0>,
     .from_float_weighted = from_float_weighted<BlockQ4_0, quantize_row_q4_0>, .act_type = Q8_0,
     .tile = {matmul_tile_q4_0_scalar, matmul_tile_q4_0_avx2, matmul_tile_q4_0_avx512},
     .strips_tile = matmul_tile_q4_0_strips_amx, .strips_act = ActLayout::tiles16, .repack_strip = repack_strip_q4_0},
    {.type = Q4_1, .info = {"q4_1", 32, 20}, .to_float = to_float<BlockQ4_1, dequantize_row_q4_1>,
     .from_float = from_float<BlockQ4_1, quantize_row_q4_1>,
     .from_float_weighted = from_float_weighted<BlockQ4_1, quantize_row_q4_1>, .act_type = Q8_0,
     .tile = {matmul_tile_q4_1_scalar, matmul_tile_q4_1_avx2, matmul_tile_q4_1_avx512}},
    {.type = DType{4}, .info = {nullptr, 0, 0}},
    {.type = DType{5}, .info = {nullptr, 0, 0}},
    {.type = Q5_0, .info = {"q5_0", 32, 22}, .to_float = to_float<BlockQ5_0, dequantize_row_q5_0>,
     .from_float = from_float<BlockQ5_0, quantize_row_q5_0>,
     .from_float_weighted = from_float_weighted<BlockQ5_0, quantize_row_q5_0>, .act_type = Q8_0,
     .tile = {matmul_tile_q5_0_scalar, matmul_tile_q5_0_avx2, matmul_tile_q5_0_avx512}},
    {.type = Q5_1, .info = {"q5_1", 32, 24}, .to_float = to_float<BlockQ5_1, dequantize_row_q5_1>,
     .from_float = from_float<BlockQ5_1, quantize_row_q5_1>,
     .from_float_weighted = from_float_weighted<BlockQ5_1, quantize_row_q5_1>, .act_type = Q8_0,
     .tile = {matmul_tile_q5_1_scalar, matmul_tile_q5_1_avx2, matmul_tile_q5_1_avx512}},
    {.type = Q8_0, .info = {"q8_0", 32, 34}, .to_float = to_float<BlockQ8_0, dequantize_row_q8_0>,
     .from_float = from_float<BlockQ8_0, quantize_row_q8_0>, .from_float_avx512 = from_float<BlockQ8_0, quantize_row_q8_0_avx512>,
     .act_type = Q8_0, .tile = {matmul_tile_q8_0_scalar, matmul_tile_q8_0_avx2, matmul_tile_q8_0_avx512},
     .strips_tile = matmul_tile_q8_0_strips_amx, .strips_act = ActLayout::tiles16, .repack_strip = repack_strip_q8_0},
    {.type = Q8_1, .info = {"q8_1", 32, 36}},
    {.type = Q2_K, .info = {"q2_k", 256, 84}, .to_float = to_float<BlockQ2_K, dequantize_row_q2_K>,
     .from_float = from_float<BlockQ2_K, quantize_row_q2_K>,
     .from_float_weighted = from_float_weighted<BlockQ2_K, quantize_row_q2_K>, .act_type = Q8_K,
     .tile = {matmul_tile_q2_k_scalar, matmul_tile_q2_k_avx2, matmul_tile_q2_k_avx512}},
    {.type = Q3_K, .info = {"q3_k", 256, 110}, .to_float = to_float<BlockQ3_K, dequantize_row_q3_K>,
     .from_float = from_float<BlockQ3_K, quantize_row_q3_K>,
     .from_float_weighted = from_float_weighted<BlockQ3_K, quantize_row_q3_K>, .act_type = Q8_K,
     .tile = {matmul_tile_q3_k_scalar, matmul_tile_q3_k_avx2, matmul_tile_q3_k_avx512}},
    {.type = Q4_K, .info = {"q4_k", 256, 144}, .to_float = to_float<BlockQ4_K, dequantize_row_q4_K>,
     .from_float = from_float<BlockQ4_K, quantize_row_q4_K>,
     .from_float_weighted = from_float_weighted<BlockQ4_K, quantize_row_q4_K>, .act_type = Q8_K,
     .tile = {matmul_tile_q4_k_scalar, matmul_tile_q4_k_avx2, matmul_tile_q4_k_avx512},
     .strips_tile = matmul_tile_q4_k_strips_amx, .repack_strip = repack_strip_q4_k},
    {.type = Q5_K, .info = {"q5_k", 256, 176}, .to_float = to_float<BlockQ5_K, dequantize_row_q5_K>,
     .from_float = from_float<BlockQ5_K, quantize_row_q5_K>,
     .from_float_weighted = from_float_weighted<BlockQ5_K, quantize_row_q5_K>, .act_type = Q8_K,
     .tile = {matmul_tile_q5_k_scalar, matmul_tile_q5_k_avx2, matmul_tile_q5_k_avx512},
     .strips_tile = matmul_tile_q5_k_strips_amx, .repack_strip = repack_strip_q5_k},
    {.type = Q6_K, .info = {"q6_k", 256, 210}, .to_float = to_float<BlockQ6_K, dequantize_row_q6_K>,
     .from_float = from_float<BlockQ6_K, quantize_row_q6_K>,
     .from_float_weighted = from_float_weighted<BlockQ6_K, quantize_row_q6_K>, .act_type = Q8_K,
     .tile = {matmul_tile_q6_k_scalar, matmul_tile_q6_k_avx2, matmul_tile_q6_k_avx512},
     .strips_tile = matmul_tile_q6_k_strips_amx, .repack_strip = repack_strip_q6_k},
    // Activations only: the quantized input of the K-quants' dot products.
    {.type = Q8_K, .info = {"q8_k", 256, 292}, .from_float = from_float<BlockQ8_K, quantize_row_q8_K>,
     .from_float_avx512 = from_float<BlockQ8_K, quantize_row_q8_K_avx512>},
    {.type = IQ2_XXS, .info = {"iq2_xxs", 256, 66}, .to_float = to_float<BlockIQ2_XXS, dequantize_row_iq2_xxs>,
     .from_float = from_float_plain<BlockIQ2_XXS, quantize_row_iq2_xxs>,
     .from_float_weighted = from_float_weighted<BlockIQ2_XXS, quantize_row_iq2_xxs>, .act_type = Q8_K,
     .tile = {matmul_tile_iq2_xxs_scalar, matmul_tile_iq2_xxs_avx2, matmul_tile_iq2_xxs_avx512}},
    {.type = IQ2_XS, .info = {"iq2_xs", 256, 74}, .to_float = to_float<BlockIQ2_XS, dequantize_row_iq2_xs>,
     .from_float = from_float_plain<BlockIQ2_XS, quantize_row_iq2_xs>,
     .from_float_weighted = from_float_weighted<BlockIQ2_XS, quantize_row_iq2_xs>, .act_type = Q8_K,
     .tile = {matmul_tile_iq2_xs_scalar, matmul_tile_iq2_xs_avx2, matmul_tile_iq2_xs_avx512}},
    {.type = IQ3_XXS, .info = {"iq3_xxs", 256, 98}, .to_float = to_float<BlockIQ3_XXS, dequantize_row_iq3_xxs>,
     .from_float = from_float_plain<BlockIQ3_XXS, quantize_row_iq3_xxs>,
     .from_float_weighted = from_float_weighted<BlockIQ3_XXS, quantize_row_iq3_xxs>, .act_type = Q8_K,
     .tile = {matmul_tile_iq3_xxs_scalar, matmul_tile_iq3_xxs_avx2, matmul_tile_iq3_xxs_avx512}},
    {.type = IQ1_S, .info = {"iq1_s", 256, 50}, .to_float = to_float<BlockIQ1_S, dequantize_row_iq1_s>,
     .from_float = from_float_plain<BlockIQ1_S, quantize_row_iq1_s>,
     .from_float_weighted = from_float_weighted<BlockIQ1_S, quantize_row_iq1_s>, .act_type = Q8_K,
     .tile = {matmul_tile_iq1_s_scalar, matmul_tile_iq1_s_avx2, matmul_tile_iq1_s_avx512}},
    {.type = IQ4_NL, .info = {"iq4_nl", 32, 18}, .to_float = to_float<BlockIQ4_NL, dequantize_row_iq4_nl>,
     .from_float = from_float<BlockIQ4_NL, quantize_row_iq4_nl>,
     .from_float_weighted = from_float_weighted<BlockIQ4_NL, quantize_row_iq4_nl>, .act_type = Q8_0,
     .tile = {matmul_tile_iq4_nl_scalar, matmul_tile_iq4_nl_avx2, matmul_tile_iq4_nl_avx512}},
    {.type = IQ3_S, .info = {"iq3_s", 256, 110}, .to_float = to_float<BlockIQ3_S, dequantize_row_iq3_s>,
     .from_float = from_float_plain<BlockIQ3_S, quantize_row_iq3_s>,
     .from_float_weighted = from_float_weighted<BlockIQ3_S, quantize_row_iq3_s>, .act_type = Q8_K,
     .tile = {matmul_tile_iq3_s_scalar, matmul_tile_iq3_s_avx2, matmul_tile_iq3_s_avx512}},
    {.type = IQ2_S, .info = {"iq2_s", 256, 82}, .to_float = to_float<BlockIQ2_S, dequantize_row_iq2_s>,
     .from_float = from_float_plain<BlockIQ2_S, quantize_row_iq2_s>,
     .from_float_weighted = from_float_weighted<BlockIQ2_S, quantize_row_iq2_s>, .act_type = Q8_K,
     .tile = {matmul_tile_iq2_s_scalar, matmul_tile_iq2_s_avx2, matmul_tile_iq2_s_avx512}},
    {.type = IQ4_XS, .info = {"iq4_xs", 256, 136}, .to_float = to_float<BlockIQ4_XS, dequantize_row_iq4_xs>,
     .from_float = from_float<BlockIQ4_XS, quantize_row_iq4_xs>,
     .from_float_weighted = from_float_weighted<BlockIQ4_XS, quantize_row_iq4_xs>, .act_type = Q8_K,
     .tile = {matmul_tile_iq4_xs_scalar, matmul_tile_iq4_xs_avx2, matmul_tile_iq4_xs_avx512}},
    {.type = I8, .info = {"i8", 1, 1}},
    {.type = I16, .info = {"i16", 1, 2}},
    {.type = I32, .info = {"i32", 1, 4}},
    {.type = I64, .info = {"i64", 1, 8}},
    {.type = F64, .info = {"f64", 1, 8}},
    {.type = IQ1_M, .info = {"iq1_m", 256, 56}, .to_float = to_float<BlockIQ1_M, dequantize_row_iq1_m>,
     .from_float = from_float_plain<BlockIQ1_M, quantize_row_iq1_m>,
     .from_float_weighted = from_float_weighted<BlockIQ1_M, quantize_row_iq1_m>, .act_type = Q8_K,
     .tile = {matmul_tile_iq1_m_scalar, matmul_tile_iq1_m_avx2, matmul_tile_iq1_m_avx512}},
    {.type = BF16, .info = {"bf16", 1, 2}, .to_float = to_float<uint16_t, dequantize_row_bf16>,
     .from_float = from_float<uint16_t, quantize_row_bf16>, .act_type = F32,
     .tile = {matmul_tile_bf16_scalar, matmul_tile_bf16_avx2, matmul_tile_bf16_avx512}},
};

constexpr bool ids_in_order() {
    for (size_t i = 0; i < std::size(kTable); ++i)
        if (static_cast<size_t>(kTable[i].type) != i) return false;
    return true;
}
static_assert(ids_in_order(), "kTable is indexed by ggml type id");

}  // namespace

std::span<const TypeTraits> type_table() { return kTable; }

const TypeTraits* type_traits(uint32_t id) {
    if (id >= std::size(kTable) || kTable[id].info.name == nullptr) return nullptr;
    return &kTable[id];
}

const TypeInfo* type_info(uint32_t id) {
    const TypeTraits* t = type_traits(id);
    return t != nullptr ? &t->info : nullptr;
}

}  // namespace kiln
