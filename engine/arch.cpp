#include "engine/arch.h"

namespace kiln {

namespace {

using enum RopeStyle;
using enum Activation;

// Switches as llama.cpp reads each architecture's GGUF files (src/models/*.cpp there).
constexpr Architecture kArchitectures[] = {
    // name       families
    //            rope      act        bias   qknorm post   embed  fused  experts swa  swa base
    {"llama", "Llama 1/2/3, Mistral, Mixtral, TinyLlama, DeepSeek-R1-Distill-Llama, SmolLM 1/2",
                  adjacent, silu,      false, false, false, false, false, false,  0,   0.0f},
    {"qwen2", "Qwen2, Qwen2.5, QwQ, DeepSeek-R1-Distill-Qwen",
                  neox,     silu,      true,  false, false, false, false, false,  0,   0.0f},
    {"qwen3", "Qwen3 (dense)",
                  neox,     silu,      false, true,  false, false, false, false,  0,   0.0f},
    {"qwen3moe", "Qwen3 MoE (Qwen3-30B-A3B, Qwen3-235B-A22B)",
                  neox,     silu,      false, true,  false, false, false, true,   0,   0.0f},
    {"gemma3", "Gemma 3 (text)",
                  neox,     gelu_tanh, false, true,  true,  true,  false, false,  6,   10000.0f},
    {"phi3", "Phi-3, Phi-3.5 (mini, medium)",
                  neox,     silu,      false, false, false, false, true,  false,  0,   0.0f},
};

}  // namespace

std::span<const Architecture> architectures() { return kArchitectures; }

const Architecture* find_architecture(std::string_view name) {
    for (const Architecture& a : kArchitectures)
        if (a.name == name) return &a;
    return nullptr;
}

}  // namespace kiln
