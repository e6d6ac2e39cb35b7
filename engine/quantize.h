// kiln quantize: rewrite a GGUF model with its weight matrices in another type.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernels/types.h"

namespace kiln {

// A target mix, named and numbered as llama.cpp's quantize has it: the base type of the weight
// matrices and the rules that give some tensors more bits.
struct QuantMix {
    const char* name;
    DType base;
    uint32_t file_type;  // llama.cpp's llama_ftype, written as general.file_type
    bool more_bits_m;    // the _M rule: attn_v and ffn_down in Q6_K in some layers, fused QKV one type up
    bool output_q6_k;    // output.weight (or a tied token_embd.weight) in Q6_K
};

std::optional<QuantMix> parse_quant_mix(const std::string& name);
std::string quant_mix_names();  // for help and errors

struct QuantizeReport {
    size_t in_bytes = 0, out_bytes = 0;
    std::vector<std::string> fallbacks;  // "tensor: rows of N do not fit TYPE, kept as OTHER"
};

// Progress: (tensor index, tensor count, name, type written).
using QuantizeProgress = std::function<void(size_t, size_t, const std::string&, const char*)>;

// Throws Error. The output keeps all metadata, with general.file_type set.
QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path, QuantMix mix, int n_threads,
                              const QuantizeProgress& progress);

}  // namespace kiln
