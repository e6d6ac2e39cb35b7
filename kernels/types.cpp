#include "kernels/types.h"

namespace kiln {

const TypeInfo* type_info(uint32_t id) {
    // Indexed by ggml type id; removed ids (4, 5, 31..33 and beyond) have no name.
    static constexpr TypeInfo table[] = {
        {"f32", 1, 4, true},       {"f16", 1, 2, true},       {"q4_0", 32, 18, true},
        {"q4_1", 32, 20, false},   {nullptr, 0, 0, false},    {nullptr, 0, 0, false},
        {"q5_0", 32, 22, false},   {"q5_1", 32, 24, false},   {"q8_0", 32, 34, true},
        {"q8_1", 32, 36, false},   {"q2_k", 256, 84, false},  {"q3_k", 256, 110, false},
        {"q4_k", 256, 144, true}, {"q5_k", 256, 176, true}, {"q6_k", 256, 210, true},
        {"q8_k", 256, 292, false}, {"iq2_xxs", 256, 66, false}, {"iq2_xs", 256, 74, false},
        {"iq3_xxs", 256, 98, false}, {"iq1_s", 256, 50, false}, {"iq4_nl", 32, 18, false},
        {"iq3_s", 256, 110, false}, {"iq2_s", 256, 82, false}, {"iq4_xs", 256, 136, false},
        {"i8", 1, 1, false},       {"i16", 1, 2, false},      {"i32", 1, 4, false},
        {"i64", 1, 8, false},      {"f64", 1, 8, false},      {"iq1_m", 256, 56, false},
        {"bf16", 1, 2, true},
    };
    if (id >= sizeof(table) / sizeof(table[0]) || table[id].name == nullptr) return nullptr;
    return &table[id];
}

}  // namespace kiln
