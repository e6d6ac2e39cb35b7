// kiln quantize: rewrite a GGUF model with its weight matrices in another type.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernels/types.h"

namespace kiln {

// A target mix, named and numbered as llama.cpp's quantize has it: the base type of the weight
// matrices; which tensors get other types follows llama.cpp's rules for that number.
struct QuantMix {
    const char* name;
    DType base;
    uint32_t file_type;  // llama.cpp's llama_ftype, written as general.file_type
};

std::optional<QuantMix> parse_quant_mix(const std::string& name);
std::string quant_mix_names();  // for help and errors

struct QuantizeReport {
    size_t in_bytes = 0, out_bytes = 0;
    std::vector<std::string> fallbacks;  // "tensor: rows of N do not fit TYPE, kept as OTHER"
};

// Progress: (tensor index, tensor count, name, type written).
using QuantizeProgress = std::function<void(size_t, size_t, const std::string&, const char*)>;

class ImportanceMatrix;

// Throws Error. The output keeps all metadata, with general.file_type set. With an importance
// matrix, the types whose quantizers take one weigh each column's error by it; the types that
// need one (IQ1, IQ2, IQ3_XXS) are refused without it, as llama-quantize refuses them.
QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path, QuantMix mix, int n_threads,
                              const QuantizeProgress& progress, const ImportanceMatrix* imatrix = nullptr);

}  // namespace kiln
