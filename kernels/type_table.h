// One row per GGUF tensor type: its block format, its conversions to and from float, the
// activation type its dot products take, its matrix kernels per instruction-set level, and its
// AMX strip form with the packer that makes it. Every other list of types (what kiln reads,
// writes and computes with, which kernel runs, what can be rearranged, the kernel tests' types)
// is derived from this table, so adding a type is adding its row and its kernel file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernels/matmul.h"
#include "kernels/types.h"

namespace kiln {

using ToFloatFn = void (*)(const void* x, float* y, size_t n);
using FromFloatFn = void (*)(const float* x, void* y, size_t n);
// A quantizer minimizing the error weighted by importance (one weight per element, or nullptr).
using WeightedFromFloatFn = void (*)(const float* x, void* y, size_t n, const float* importance);
// One strip of 16 rows (row_bytes apart, n_blocks blocks each) into its strips16 form at out.
using RepackFn = void (*)(const uint8_t* rows, size_t row_bytes, size_t n_blocks, uint8_t* out);

struct TypeTraits {
    DType type;
    TypeInfo info;                          // name, block elements and bytes
    ToFloatFn to_float = nullptr;           // nullptr: kiln cannot read the type
    FromFloatFn from_float = nullptr;       // the reference quantizer; nullptr: kiln cannot write it
    FromFloatFn from_float_avx512 = nullptr;  // the same bytes with AVX-512, or nullptr
    WeightedFromFloatFn from_float_weighted = nullptr;  // takes an importance matrix; nullptr: none
    DType act_type = DType::F32;            // the activations its dot products take
    MatmulTileFn tile[3] = {};              // scalar, avx2, avx512 (amx takes avx512's); nullptr: none
    MatmulTileFn strips_tile = nullptr;     // the amx level's kernel over strips16, or nullptr
    ActLayout strips_act = ActLayout::rows;  // how strips_tile takes its activations
    RepackFn repack_strip = nullptr;        // rows to strips16
};

// Every known ggml type, in id order.
std::span<const TypeTraits> type_table();

// The row of a type id, or nullptr for an id ggml does not define.
const TypeTraits* type_traits(uint32_t id);
inline const TypeTraits& traits(DType type) { return *type_traits(static_cast<uint32_t>(type)); }

// Whether kiln multiplies by matrices of this type.
inline bool computable(DType type) { return traits(type).tile[0] != nullptr; }

}  // namespace kiln
