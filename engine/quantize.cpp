#include "engine/quantize.h"

#include <cstring>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "kernels/quants.h"
#include "kernels/type_table.h"

namespace kiln {

namespace {

constexpr QuantMix kMixes[] = {
    // name      base          ftype  _M     output Q6_K
    {"f16", DType::F16, 1, false, false},
    {"bf16", DType::BF16, 32, false, false},
    {"q8_0", DType::Q8_0, 7, false, false},
    {"q4_0", DType::Q4_0, 2, false, true},
    {"q4_1", DType::Q4_1, 3, false, true},
    {"q5_0", DType::Q5_0, 8, false, true},
    {"q5_1", DType::Q5_1, 9, false, true},
    {"iq4_nl", DType::IQ4_NL, 25, false, true},
    {"q4_k_m", DType::Q4_K, 15, true, true},
    {"q5_k_m", DType::Q5_K, 17, true, true},
    {"q6_k", DType::Q6_K, 18, false, true},
};

// llama.cpp's _M rule: layers that get more bits in attn_v and ffn_down.
bool more_bits(size_t layer, size_t n_layer) {
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

std::optional<size_t> layer_of(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return std::nullopt;
    const size_t dot = name.find('.', 4);
    if (dot == std::string::npos) return std::nullopt;
    try {
        return std::stoul(name.substr(4, dot - 4));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

bool ends_with(const std::string& s, const char* suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The type a tensor should get in this mix, before checking that its rows fit the blocks.
// tied: the file has no output.weight, so token_embd.weight is the output matrix too and takes
// its rule (as llama.cpp's quantizer has it).
DType wanted_type(const GgufTensor& t, const QuantMix& mix, size_t n_layer, bool tied) {
    if (t.n_dims < 2 || !ends_with(t.name, ".weight")) return t.type;  // norms and the like stay
    if (ends_with(t.name, "ffn_gate_inp.weight")) return t.type;      // MoE routers: small, and decisive
    const bool output = t.name == "output.weight" || (tied && t.name == "token_embd.weight");
    if (output && mix.output_q6_k) return DType::Q6_K;
    if (mix.more_bits_m && ends_with(t.name, "attn_qkv.weight")) return mix.base == DType::Q4_K ? DType::Q5_K : DType::Q6_K;
    if (mix.more_bits_m && (ends_with(t.name, "attn_v.weight") || ends_with(t.name, "ffn_down.weight") ||
                            ends_with(t.name, "ffn_down_exps.weight"))) {
        const auto layer = layer_of(t.name);
        if (layer && more_bits(*layer, n_layer)) return DType::Q6_K;
    }
    return mix.base;
}

// A type whose blocks fit rows of n: `want`, or llama.cpp's replacement for a 256-block type
// (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0), else F16.
DType fitting_type(DType want, uint64_t n) {
    if (n % traits(want).info.block_elems == 0) return want;
    const DType small = want == DType::Q4_K ? DType::Q5_0 : want == DType::Q5_K ? DType::Q5_1 : DType::Q8_0;
    return n % traits(small).info.block_elems == 0 ? small : DType::F16;
}

}  // namespace

std::optional<QuantMix> parse_quant_mix(const std::string& name) {
    for (const QuantMix& m : kMixes)
        if (name == m.name) return m;
    return std::nullopt;
}

std::string quant_mix_names() {
    std::string out;
    for (const QuantMix& m : kMixes) out += (out.empty() ? "" : ", ") + std::string(m.name);
    return out;
}

QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path, QuantMix mix, int n_threads,
                              const QuantizeProgress& progress) {
    const GgufFile in = GgufFile::open(in_path);
    size_t n_layer = 0;
    try {
        if (const auto arch = in.get_string("general.architecture"))
            n_layer = in.get_uint(std::string(*arch) + ".block_count").value_or(0);
    } catch (const Error& e) {
        throw Error(in_path + ": " + e.what());
    }

    GgufWriter w;
    for (const auto& [key, value] : in.metadata()) {
        if (key == "general.file_type" || key == "general.quantization_version") continue;
        w.add_value(key, value);
    }
    w.add_u32("general.file_type", mix.file_type);
    w.add_u32("general.quantization_version", 2);

    QuantizeReport report;
    std::vector<DType> types;
    for (const GgufTensor& t : in.tensors()) {
        DType type = wanted_type(t, mix, n_layer, in.find_tensor("output.weight") == nullptr);
        if (type != t.type) {
            if (traits(t.type).to_float == nullptr)
                throw Error(in_path + ": tensor '" + t.name + "' has type " + type_info(static_cast<uint32_t>(t.type))->name +
                            ", which kiln cannot convert");
            const DType fit = fitting_type(type, t.dims[0]);
            if (fit != type)
                report.fallbacks.push_back(t.name + ": rows of " + std::to_string(t.dims[0]) + " do not fit " +
                                           type_info(static_cast<uint32_t>(type))->name + " blocks, written as " +
                                           type_info(static_cast<uint32_t>(fit))->name);
            type = fit == t.type ? t.type : fit;
        }
        types.push_back(type);
        const uint64_t bytes = t.n_elems / type_info(static_cast<uint32_t>(type))->block_elems *
                               type_info(static_cast<uint32_t>(type))->block_bytes;
        w.add_tensor_info(t.name, std::vector<uint64_t>(t.dims, t.dims + t.n_dims), static_cast<uint32_t>(type), bytes);
        report.in_bytes += t.n_bytes;
        report.out_bytes += bytes;
    }

    const auto& tensors = in.tensors();
    w.write(out_path, in.alignment(), [&](size_t i) {
        const GgufTensor& t = tensors[i];
        progress(i, tensors.size(), t.name, type_info(static_cast<uint32_t>(types[i]))->name);
        if (types[i] == t.type) return std::string(reinterpret_cast<const char*>(t.data), t.n_bytes);
        const size_t n = t.dims[0], rows = t.n_elems / n;
        std::string out(rows * row_bytes(*type_info(static_cast<uint32_t>(types[i])), n), '\0');
        convert_rows(t.type, t.data, types[i], out.data(), rows, n, n_threads);
        return out;
    });
    return report;
}

}  // namespace kiln
