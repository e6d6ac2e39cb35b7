// GGUF/ggml tensor types: ids and block layouts as the GGUF format defines them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln {

enum class DType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
};

struct TypeInfo {
    const char* name;
    uint32_t block_elems;  // elements per block (1 for plain types)
    uint32_t block_bytes;  // bytes per block
};

// nullptr for an id that is not a known ggml type (the rows of kernels/type_table.h).
const TypeInfo* type_info(uint32_t id);

// Bytes of a row of n elements; n must be a multiple of the block size.
inline size_t row_bytes(const TypeInfo& t, size_t n) { return n / t.block_elems * t.block_bytes; }

}  // namespace kiln
