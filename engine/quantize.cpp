#include "engine/quantize.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "engine/imatrix.h"
#include "kernels/quants.h"
#include "kernels/type_table.h"

namespace kiln {

namespace {

// llama.cpp's llama_ftype numbers of the mixes whose rules differ from "everything in base".
enum Ftype : uint32_t {
    kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ5_0 = 8, kQ8_0 = 7, kBF16 = 32, kQ2_K = 10, kQ3_K_S = 11, kQ3_K_M = 12, kQ3_K_L = 13,
    kQ4_K_S = 14, kQ4_K_M = 15, kQ5_K_S = 16, kQ5_K_M = 17, kIQ2_XXS = 19, kIQ2_XS = 20, kIQ3_XXS = 23, kIQ1_S = 24,
    kIQ4_NL = 25, kIQ3_S = 26, kIQ3_M = 27, kIQ2_S = 28, kIQ2_M = 29, kIQ4_XS = 30, kIQ1_M = 31,
};

constexpr QuantMix kMixes[] = {
    {"f16", DType::F16, kF16},           {"bf16", DType::BF16, kBF16},         {"q8_0", DType::Q8_0, kQ8_0},
    {"q4_0", DType::Q4_0, kQ4_0},        {"q4_1", DType::Q4_1, 3},             {"q5_0", DType::Q5_0, kQ5_0},
    {"q5_1", DType::Q5_1, 9},            {"iq4_nl", DType::IQ4_NL, kIQ4_NL},   {"iq4_xs", DType::IQ4_XS, kIQ4_XS},
    {"q2_k", DType::Q2_K, kQ2_K},        {"q3_k_s", DType::Q3_K, kQ3_K_S},     {"q3_k_m", DType::Q3_K, kQ3_K_M},
    {"q3_k_l", DType::Q3_K, kQ3_K_L},    {"q4_k_s", DType::Q4_K, kQ4_K_S},     {"q4_k_m", DType::Q4_K, kQ4_K_M},
    {"q5_k_s", DType::Q5_K, kQ5_K_S},    {"q5_k_m", DType::Q5_K, kQ5_K_M},     {"q6_k", DType::Q6_K, 18},
    {"iq3_s", DType::IQ3_S, kIQ3_S},     {"iq3_m", DType::IQ3_S, kIQ3_M},      {"iq3_xxs", DType::IQ3_XXS, kIQ3_XXS},
    {"iq2_m", DType::IQ2_S, kIQ2_M},     {"iq2_s", DType::IQ2_XS, kIQ2_S},     {"iq2_xs", DType::IQ2_XS, kIQ2_XS},
    {"iq2_xxs", DType::IQ2_XXS, kIQ2_XXS}, {"iq1_m", DType::IQ1_M, kIQ1_M},    {"iq1_s", DType::IQ1_S, kIQ1_S},
};

// What llama.cpp's rules look at besides the tensor's name.
struct ModelShape {
    size_t n_layer = 0, n_gqa = 1, n_expert = 0;
    bool tied = false;  // no output.weight: token_embd.weight is the output matrix too
    bool imatrix = false;  // an importance matrix was given
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

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// The type a tensor should get in this mix, before checking that its rows fit the blocks:
// llama.cpp's llama_tensor_get_type for the mixes kiln writes (attention and FFN tensors of
// some layers, the output, fused QKV and 8-expert models get other types than the base).
DType wanted_type(const GgufTensor& t, const QuantMix& mix, const ModelShape& m) {
    if (t.n_dims < 2 || !ends_with(t.name, ".weight")) return t.type;  // norms and the like stay
    if (ends_with(t.name, "ffn_gate_inp.weight")) return t.type;      // MoE routers: small, and decisive
    const uint32_t f = mix.file_type;
    if (f == kF16 || f == kBF16 || f == kQ8_0) return mix.base;
    const auto any = [f](std::initializer_list<uint32_t> fs) { return std::find(fs.begin(), fs.end(), f) != fs.end(); };
    // The mixes whose matrices are mostly IQ1 or IQ2.
    const bool very_low = any({kIQ2_XXS, kIQ2_XS, kIQ1_S, kIQ2_S, kIQ2_M, kIQ1_M});
    const bool iq2_s_m = f == kIQ2_S || f == kIQ2_M;
    const bool output = t.name == "output.weight" || (m.tied && t.name == "token_embd.weight");
    if (output) {
        if (t.dims[0] % QK_K != 0) return DType::Q8_0;
        return very_low || f == kIQ3_XXS ? DType::Q5_K : DType::Q6_K;
    }
    if (t.name == "token_embd.weight") {
        if (any({kIQ2_XXS, kIQ2_XS, kIQ1_S, kIQ1_M})) return DType::Q2_K;
        if (iq2_s_m || f == kIQ3_XXS) return DType::IQ3_S;
        return mix.base;
    }
    const size_t layer = layer_of(t.name).value_or(0), n = m.n_layer;
    const bool eight_experts = m.n_expert == 8;
    const bool attn_v = contains(t.name, "attn_v.weight") || (very_low && contains(t.name, "attn_qkv.weight"));
    if (very_low) {
        if (attn_v) return m.n_gqa >= 4 || m.n_expert >= 4 ? DType::Q4_K : iq2_s_m ? DType::IQ3_S : DType::Q2_K;
        if (eight_experts && contains(t.name, "attn_k.weight")) return DType::Q4_K;
        if (contains(t.name, "ffn_down") && layer < n / 8) return iq2_s_m ? DType::IQ3_S : DType::Q2_K;
        if (contains(t.name, "attn_output.weight")) {
            if (eight_experts) return DType::Q5_K;
            if (f == kIQ1_S || f == kIQ1_M) return DType::IQ2_XXS;
            if (iq2_s_m) return DType::IQ3_S;
        }
        return mix.base;
    }
    if (attn_v) {
        if (eight_experts) return DType::Q8_0;
        if (f == kQ2_K) return m.n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
        if (f == kIQ3_XXS) return m.n_gqa >= 4 ? DType::Q4_K : m.imatrix ? DType::IQ3_XXS : DType::IQ3_S;
        if (f == kIQ3_S && m.n_gqa >= 4) return DType::Q4_K;
        if (f == kIQ3_M) return DType::Q4_K;
        if (f == kQ3_K_M) return layer < 2 ? DType::Q5_K : DType::Q4_K;
        if (f == kQ3_K_L) return DType::Q5_K;
        if ((f == kIQ4_NL || f == kIQ4_XS) && m.n_gqa >= 4) return DType::Q5_K;
        if ((f == kQ4_K_M || f == kQ5_K_M) && more_bits(layer, n)) return DType::Q6_K;
        if (f == kQ4_K_S && layer < 4) return DType::Q5_K;
    } else if (contains(t.name, "attn_k.weight")) {
        if (eight_experts) return DType::Q8_0;
        if (f == kIQ3_XXS) return DType::IQ2_S;
    } else if (contains(t.name, "attn_q.weight")) {
        if (f == kIQ3_XXS) return DType::IQ2_S;
    } else if (contains(t.name, "ffn_down")) {
        if (f == kQ2_K) return DType::Q3_K;
        if (f == kIQ3_XXS && !m.imatrix) return layer < n / 8 ? DType::Q4_K : DType::Q3_K;
        if (f == kQ3_K_M) return layer < n / 16 ? DType::Q5_K : DType::Q4_K;
        if (f == kIQ3_M && (layer < n / 8 || (eight_experts && more_bits(layer, n)))) return DType::Q4_K;
        if (f == kQ3_K_L) return DType::Q5_K;
        if ((f == kQ4_K_M || f == kQ5_K_M) && more_bits(layer, n)) return DType::Q6_K;
        if ((f == kIQ4_NL || f == kIQ4_XS) && !m.imatrix && layer < n / 8) return DType::Q5_K;
        if (f == kQ4_K_S && layer < n / 8) return DType::Q5_K;
        if ((f == kQ4_0 || f == kQ5_0) && m.imatrix && layer < n / 8) return f == kQ4_0 ? DType::Q4_1 : DType::Q5_1;
    } else if (contains(t.name, "attn_output.weight")) {
        if (eight_experts && any({kQ2_K, kIQ3_XXS, kQ3_K_S, kQ3_K_M, kIQ4_NL, kQ4_K_S, kQ4_K_M, kIQ3_S, kIQ3_M, kIQ4_XS}))
            return DType::Q5_K;
        if (eight_experts) return mix.base;
        if (f == kQ2_K) return DType::Q3_K;
        if (f == kIQ3_XXS) return DType::IQ3_S;
        if (f == kQ3_K_M || f == kIQ3_M) return DType::Q4_K;
        if (f == kQ3_K_L) return DType::Q5_K;
    } else if (contains(t.name, "attn_qkv.weight")) {
        if (f == kQ3_K_M || f == kQ3_K_L || f == kIQ3_M) return DType::Q4_K;
        if (f == kQ4_K_M) return DType::Q5_K;
        if (f == kQ5_K_M) return DType::Q6_K;
    }
    return mix.base;
}

// Whether llama.cpp refuses to write a tensor of this type without an importance matrix.
bool needs_imatrix(const std::string& name, DType type) {
    if (name == "token_embd.weight" || name == "output.weight") return false;
    return type == DType::IQ3_XXS || type == DType::IQ2_XXS || type == DType::IQ2_XS || type == DType::IQ2_S ||
           type == DType::IQ1_M || type == DType::IQ1_S;
}

// A type whose blocks fit rows of n: `want`, or llama.cpp's replacement for a 256-block type
// (Q2_K, Q3_K and the IQ types -> IQ4_NL; Q4_K -> Q5_0; Q5_K -> Q5_1; Q6_K -> Q8_0), else F16.
DType fitting_type(DType want, uint64_t n) {
    if (n % traits(want).info.block_elems == 0) return want;
    DType small = DType::Q8_0;
    if (want == DType::Q2_K || want == DType::Q3_K || want == DType::IQ4_XS || want == DType::IQ3_S ||
        want == DType::IQ3_XXS || want == DType::IQ2_S || want == DType::IQ2_XS || want == DType::IQ2_XXS ||
        want == DType::IQ1_S || want == DType::IQ1_M)
        small = DType::IQ4_NL;
    if (want == DType::Q4_K) small = DType::Q5_0;
    if (want == DType::Q5_K) small = DType::Q5_1;
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
                              const QuantizeProgress& progress, const ImportanceMatrix* imatrix) {
    const GgufFile in = GgufFile::open(in_path);
    ModelShape shape;
    shape.tied = in.find_tensor("output.weight") == nullptr;
    shape.imatrix = imatrix != nullptr;
    try {
        if (const auto arch = in.get_string("general.architecture")) {
            const std::string k = std::string(*arch) + ".";
            shape.n_layer = in.get_uint(k + "block_count").value_or(0);
            const uint64_t heads = in.get_uint(k + "attention.head_count").value_or(1);
            const uint64_t kv = in.get_uint(k + "attention.head_count_kv").value_or(heads);
            shape.n_gqa = kv > 0 ? heads / kv : 1;
            shape.n_expert = in.get_uint(k + "expert_count").value_or(0);
        }
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
        DType type = wanted_type(t, mix, shape);
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
        if (type != t.type && needs_imatrix(t.name, type)) {
            const char* name = type_info(static_cast<uint32_t>(type))->name;
            if (imatrix == nullptr)
                throw ParamError("imatrix", std::string("is required: ") + mix.name + " writes '" + t.name + "' as " + name +
                                                ", which needs an importance matrix (kiln imatrix makes one)");
            if (imatrix->entries.count(t.name) == 0)
                throw Error("the importance matrix has no entry for '" + t.name + "', which " + mix.name + " writes as " + name);
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
        const size_t n_matrices = t.n_dims == 3 ? t.dims[2] : 1;
        const std::vector<float> weights = imatrix != nullptr ? imatrix->weights(t.name, n, n_matrices) : std::vector<float>{};
        convert_rows(t.type, t.data, types[i], out.data(), rows, n, n_threads, weights.empty() ? nullptr : weights.data(),
                     rows / n_matrices);
        return out;
    });
    return report;
}

}  // namespace kiln
