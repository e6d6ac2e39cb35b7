#include "engine/model.h"

#include <cmath>
#include <optional>
#include <set>
#include <string>

#include "engine/error.h"
#include "kernels/quants.h"
#include "kernels/type_table.h"
#include "tokenizer/bpe.h"
#include "tokenizer/spm.h"

namespace kiln {

namespace {

// Hyperparameters are bounded so that every product the engine forms fits comfortably.
constexpr uint64_t kMaxDim = uint64_t{1} << 20;
constexpr size_t kMaxExperts = 256;

size_t required(const GgufFile& g, const std::string& key) {
    const auto v = g.get_uint(key);
    if (!v) throw Error("missing metadata key '" + key + "'");
    if (*v == 0 || *v > kMaxDim) throw Error("metadata key '" + key + "' = " + std::to_string(*v) + " is out of range");
    return static_cast<size_t>(*v);
}

size_t optional(const GgufFile& g, const std::string& key, size_t fallback) {
    return g.find(key) ? required(g, key) : fallback;
}

std::string shape_str(const GgufTensor& t) {
    std::string s = "[";
    for (uint32_t d = 0; d < t.n_dims; ++d) s += (d ? ", " : "") + std::to_string(t.dims[d]);
    return s + "]";
}

// The file's tensors as the loader takes them, each taken noted: a tensor the architecture
// does not use means the file is not what it says.
struct Tensors {
    const GgufFile& g;
    std::set<std::string, std::less<>> used;
};

// A tensor of the given shape (GGUF order: row length first) and a type kiln computes with.
const GgufTensor& tensor(Tensors& ts, const std::string& name, std::initializer_list<size_t> shape) {
    const GgufTensor* t = ts.g.find_tensor(name);
    if (t == nullptr) throw Error("missing tensor '" + name + "'");
    if (!computable(t->type))
        throw Error("tensor '" + name + "' has type " + traits(t->type).info.name + ", which kiln cannot run yet");
    bool ok = t->n_dims == shape.size();
    std::string want = "[";
    for (uint32_t d = 0; size_t n : shape) {
        ok = ok && t->dims[d] == n;
        want += (d++ ? ", " : "") + std::to_string(n);
    }
    if (!ok) throw Error("tensor '" + name + "' has shape " + shape_str(*t) + ", expected " + want + "]");
    ts.used.insert(name);
    return *t;
}

size_t matrix_bytes(const WeightMatrix& w) {
    return row_bytes(*type_info(static_cast<uint32_t>(w.type)), w.n_cols) * w.n_rows;
}

WeightMatrix matrix(Tensors& ts, const std::string& name, size_t cols, size_t rows) {
    const GgufTensor& t = tensor(ts, name, {cols, rows});
    return WeightMatrix{t.data, t.type, rows, cols};
}

// Consecutive blocks of rows of one 2-D tensor [cols, sum of rows], as separate matrices.
std::vector<WeightMatrix> row_slices(Tensors& ts, const std::string& name, size_t cols, std::initializer_list<size_t> rows) {
    size_t total = 0;
    for (size_t r : rows) total += r;
    const GgufTensor& t = tensor(ts, name, {cols, total});
    std::vector<WeightMatrix> out;
    const uint8_t* data = t.data;
    for (size_t r : rows) {
        out.push_back(WeightMatrix{data, t.type, r, cols});
        data += matrix_bytes(out.back());
    }
    return out;
}

// The n matrices of a 3-D tensor [cols, rows, n], one after the other in the file.
std::vector<WeightMatrix> expert_matrices(Tensors& ts, const std::string& name, size_t cols, size_t rows, size_t n) {
    const GgufTensor& t = tensor(ts, name, {cols, rows, n});
    std::vector<WeightMatrix> out;
    for (size_t e = 0; e < n; ++e) {
        out.push_back(WeightMatrix{t.data, t.type, rows, cols});
        out.back().data = t.data + e * matrix_bytes(out.back());
    }
    return out;
}

std::vector<float> vector(Tensors& ts, const std::string& name, size_t n) {
    const GgufTensor& t = tensor(ts, name, {n});
    std::vector<float> out(n);
    dequantize_row(t.type, t.data, out.data(), n);
    return out;
}

// The GGUF's own vocabulary, or a tokenizer file: a Hugging Face tokenizer.json (byte-level
// BPE) or a SentencePiece tokenizer.model.
std::unique_ptr<Tokenizer> load_tokenizer(const GgufFile& g, const std::string& path) {
    if (path.empty()) return load_gguf_tokenizer(g);
    if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) return load_bpe_tokenizer_json(path);
    return load_spm_tokenizer(path, g.get_bool("tokenizer.ggml.add_bos_token").value_or(true));
}

std::string supported_architectures() {
    std::string names;
    for (const Architecture& a : architectures()) names += (names.empty() ? "" : ", ") + std::string(a.name);
    return names;
}

// The metadata keys of one architecture: "<arch>.<key>".
struct Keys {
    const GgufFile& g;
    std::string prefix;

    std::string key(const char* k) const { return prefix + k; }
    size_t required(const char* k) const { return kiln::required(g, key(k)); }
    size_t optional(const char* k, size_t fallback) const { return kiln::optional(g, key(k), fallback); }
    std::optional<double> real(const char* k) const { return g.get_float(key(k)); }
};

ModelConfig read_config(const GgufFile& g) {
    const auto name = g.get_string("general.architecture");
    if (!name) throw Error("missing metadata key 'general.architecture'");
    const Architecture* arch = find_architecture(*name);
    if (arch == nullptr)
        throw Error("architecture '" + std::string(*name) + "' is not supported (kiln runs " + supported_architectures() + ")");
    const Keys k{g, std::string(arch->name) + "."};
    ModelConfig c;
    c.arch = arch;
    c.n_layer = k.required("block_count");
    c.n_embd = k.required("embedding_length");
    c.n_head = k.required("attention.head_count");
    c.n_kv_head = k.optional("attention.head_count_kv", c.n_head);
    c.n_ctx_train = k.required("context_length");
    if (c.n_head % c.n_kv_head != 0)
        throw Error("head_count " + std::to_string(c.n_head) + " is not a multiple of head_count_kv " +
                    std::to_string(c.n_kv_head));
    if (!g.find(k.key("attention.key_length")) && c.n_embd % c.n_head != 0)
        throw Error("embedding_length " + std::to_string(c.n_embd) + " is not a multiple of head_count " +
                    std::to_string(c.n_head) + " and attention.key_length is missing");
    c.head_dim = k.optional("attention.key_length", c.n_embd / c.n_head);
    if (const size_t v = k.optional("attention.value_length", c.head_dim); v != c.head_dim)
        throw Error("attention.value_length " + std::to_string(v) + " differs from attention.key_length " +
                    std::to_string(c.head_dim) + " (kiln needs them equal)");
    c.rot_dim = k.optional("rope.dimension_count", c.head_dim);
    if (c.rot_dim > c.head_dim || c.rot_dim % 2 != 0)
        throw Error("rope.dimension_count " + std::to_string(c.rot_dim) + " must be even and at most the head size " +
                    std::to_string(c.head_dim));
    c.norm_eps = static_cast<float>(k.real("attention.layer_norm_rms_epsilon").value_or(1e-5));
    if (!(c.norm_eps > 0.0f && c.norm_eps < 1.0f)) throw Error("layer_norm_rms_epsilon must be in (0, 1)");

    // Gemma 3 27B scales scores by its query_pre_attn_scalar, n_embd / n_head, which llama.cpp
    // recognises by the layer count since its files do not carry it.
    const bool gemma_27b = arch->name == "gemma3" && c.n_layer == 62;
    c.attn_scale = 1.0f / std::sqrt(static_cast<float>(gemma_27b ? c.n_embd / c.n_head : c.head_dim));

    RopeConfig rope;
    rope.freq_base = static_cast<float>(k.real("rope.freq_base").value_or(10000.0));
    if (!(rope.freq_base > 0.0f)) throw Error("rope.freq_base must be positive");
    const auto scaling = g.get_string(k.key("rope.scaling.type"));
    if (scaling && *scaling == "linear") {
        const double factor = k.real("rope.scaling.factor").value_or(1.0);
        if (!(factor >= 1.0 && factor <= 1024.0)) throw Error("rope.scaling.factor must be in [1, 1024]");
        rope.freq_scale = static_cast<float>(1.0 / factor);
    } else if (scaling && *scaling != "none" && *scaling != "longrope") {
        throw Error("rope.scaling.type '" + std::string(*scaling) + "' is not supported (kiln runs none, linear, longrope)");
    }
    c.ropes.push_back(rope);
    c.rope_attn_factor = static_cast<float>(k.real("rope.scaling.attn_factor").value_or(1.0));
    if (!(c.rope_attn_factor > 0.0f && c.rope_attn_factor <= 16.0f)) throw Error("rope.scaling.attn_factor must be in (0, 16]");
    c.rope_ctx_orig = k.optional("rope.scaling.original_context_length", c.n_ctx_train);

    c.layers.assign(c.n_layer, LayerConfig{});
    if (arch->swa_pattern > 0) {
        const size_t window = k.required("attention.sliding_window");
        c.ropes.push_back({arch->swa_rope_base, 1.0f});
        for (size_t l = 0; l < c.n_layer; ++l)
            if (l % arch->swa_pattern < arch->swa_pattern - 1) c.layers[l] = {window, 1};
    }

    if (arch->experts || g.get_uint(k.key("expert_count")).value_or(0) > 0) {  // some converters write 0 for dense models
        c.n_expert = k.required("expert_count");
        c.n_expert_used = k.required("expert_used_count");
        if (c.n_expert > kMaxExperts || c.n_expert_used > c.n_expert)
            throw Error("expert_used_count " + std::to_string(c.n_expert_used) + " of expert_count " +
                        std::to_string(c.n_expert) + " is out of range (at most " + std::to_string(kMaxExperts) +
                        " experts)");
        c.n_ff = g.find(k.key("expert_feed_forward_length")) ? k.required("expert_feed_forward_length")
                                                               : k.required("feed_forward_length");
    } else {
        c.n_ff = k.required("feed_forward_length");
    }
    return c;
}

}  // namespace

std::unique_ptr<const Model> Model::load(const std::string& path, const ModelOptions& options) {
    std::unique_ptr<Model> m(new Model());
    m->gguf_ = GgufFile::open(path, options.load);
    m->isa_ = options.isa;
    try {
        const GgufFile& g = m->gguf_;
        if (g.tensors().empty()) throw Error("the file holds a vocabulary only, no weights");
        ModelConfig& c = m->config_;
        c = read_config(g);
        m->tokenizer_ = load_tokenizer(g, options.tokenizer_path);
        c.n_vocab = m->tokenizer_->n_vocab();

        Tensors ts{g, {}};
        const size_t half = c.rot_dim / 2;
        const auto factors = [&](const char* name) {
            std::vector<float> f = vector(ts, name, half);
            for (float v : f)
                if (!(v > 0.0f)) throw Error(std::string(name) + " holds a factor that is not positive");
            return f;
        };
        if (g.find_tensor("rope_freqs.weight") != nullptr) c.rope_freq_factors = factors("rope_freqs.weight");
        // Phi-3's LongRoPE: the short factors in place of rope_freqs, the long ones past rope_ctx_orig.
        if (g.find_tensor("rope_factors_short.weight") != nullptr) c.rope_freq_factors = factors("rope_factors_short.weight");
        if (g.find_tensor("rope_factors_long.weight") != nullptr) c.rope_factors_long = factors("rope_factors_long.weight");
        m->token_embd_ = matrix(ts, "token_embd.weight", c.n_embd, c.n_vocab);
        m->output_norm_ = vector(ts, "output_norm.weight", c.n_embd);
        m->output_ = g.find_tensor("output.weight") ? matrix(ts, "output.weight", c.n_embd, c.n_vocab) : m->token_embd_;
        const Architecture& arch = *c.arch;
        const size_t q_dim = c.q_dim(), kv_dim = c.kv_dim();
        for (size_t l = 0; l < c.n_layer; ++l) {
            const std::string p = "blk." + std::to_string(l) + ".";
            LayerWeights w;
            w.attn_norm = vector(ts, p + "attn_norm.weight", c.n_embd);
            if (g.find_tensor(p + "attn_qkv.weight") != nullptr) {  // fused: Q, K and V rows one after the other
                const auto qkv = row_slices(ts, p + "attn_qkv.weight", c.n_embd, {q_dim, kv_dim, kv_dim});
                w.wq = qkv[0], w.wk = qkv[1], w.wv = qkv[2];
            } else {
                w.wq = matrix(ts, p + "attn_q.weight", c.n_embd, q_dim);
                w.wk = matrix(ts, p + "attn_k.weight", c.n_embd, kv_dim);
                w.wv = matrix(ts, p + "attn_v.weight", c.n_embd, kv_dim);
            }
            w.wo = matrix(ts, p + "attn_output.weight", q_dim, c.n_embd);
            if (arch.qkv_bias) {
                w.bq = vector(ts, p + "attn_q.bias", q_dim);
                w.bk = vector(ts, p + "attn_k.bias", kv_dim);
                w.bv = vector(ts, p + "attn_v.bias", kv_dim);
            }
            if (arch.qk_norm) {
                w.q_norm = vector(ts, p + "attn_q_norm.weight", c.head_dim);
                w.k_norm = vector(ts, p + "attn_k_norm.weight", c.head_dim);
            }
            if (arch.post_norms) {
                w.post_attn_norm = vector(ts, p + "post_attention_norm.weight", c.n_embd);
                w.post_ffn_norm = vector(ts, p + "post_ffw_norm.weight", c.n_embd);
            }
            w.ffn_norm = vector(ts, p + "ffn_norm.weight", c.n_embd);
            if (c.n_expert == 0 && arch.fused_gate_up) {  // ffn_up: gate rows, then up rows
                const auto gate_up = row_slices(ts, p + "ffn_up.weight", c.n_embd, {c.n_ff, c.n_ff});
                w.ffn.gate = gate_up[0], w.ffn.up = gate_up[1];
                w.ffn.down = matrix(ts, p + "ffn_down.weight", c.n_ff, c.n_embd);
            } else if (c.n_expert == 0) {
                w.ffn.gate = matrix(ts, p + "ffn_gate.weight", c.n_embd, c.n_ff);
                w.ffn.up = matrix(ts, p + "ffn_up.weight", c.n_embd, c.n_ff);
                w.ffn.down = matrix(ts, p + "ffn_down.weight", c.n_ff, c.n_embd);
            } else {
                w.router = matrix(ts, p + "ffn_gate_inp.weight", c.n_embd, c.n_expert);
                const auto gate = expert_matrices(ts, p + "ffn_gate_exps.weight", c.n_embd, c.n_ff, c.n_expert);
                const auto up = expert_matrices(ts, p + "ffn_up_exps.weight", c.n_embd, c.n_ff, c.n_expert);
                const auto down = expert_matrices(ts, p + "ffn_down_exps.weight", c.n_ff, c.n_embd, c.n_expert);
                for (size_t e = 0; e < c.n_expert; ++e) w.experts.push_back({gate[e], up[e], down[e]});
            }
            m->layers_.push_back(std::move(w));
        }
        if (!options.allow_unused_tensors)
            for (const GgufTensor& t : g.tensors())
                if (!ts.used.count(t.name))
                    throw Error("tensor '" + t.name + "' is not one architecture '" + std::string(arch.name) +
                                "' uses: the file is not what it says (allow_unused_tensors loads it anyway)");
        m->repack(options.n_threads);
    } catch (const std::runtime_error& e) {
        throw Error(path + ": " + e.what());
    }
    m->gguf_.seal();
    return m;
}

std::unique_ptr<Tokenizer> open_tokenizer(const std::string& path, const std::string& tokenizer_path) {
    const GgufFile g = GgufFile::open(path, FileLoad::map);
    try {
        return load_tokenizer(g, tokenizer_path);
    } catch (const std::runtime_error& e) {
        throw Error(path + ": " + e.what());
    }
}

std::vector<WeightMatrix*> Model::matrices() {
    std::vector<WeightMatrix*> out;
    if (output_.data != token_embd_.data) out.push_back(&output_);
    for (LayerWeights& l : layers_) {
        out.insert(out.end(), {&l.wq, &l.wk, &l.wv, &l.wo});
        if (l.experts.empty()) out.insert(out.end(), {&l.ffn.gate, &l.ffn.up, &l.ffn.down});
        for (FfnWeights& e : l.experts) out.insert(out.end(), {&e.gate, &e.up, &e.down});
    }
    return out;
}

void Model::repack(int threads) {
    // The AMX kernels want Q8_0, Q4_0 and the K-quants in strips; rearranging needs the weights
    // in memory of our own (the copy), and leaves the token embeddings, read by rows, alone.
    if (isa_ != Isa::amx || !gguf_.copied()) return;
    size_t bytes = 0;
    for (WeightMatrix* w : matrices()) {
        if (!can_repack(w->type, w->n_rows)) continue;
        const auto* data = static_cast<const uint8_t*>(w->data);
        const GgufTensor* t = gguf_.tensor_holding(data);  // an expert is a slice of its tensor
        uint8_t* tensor_data = t != nullptr ? gguf_.writable(*t) : nullptr;
        if (tensor_data == nullptr) continue;
        repack_strips16(w->type, tensor_data + (data - t->data), w->n_rows, w->n_cols, threads);
        w->layout = Layout::strips16;
        bytes += matrix_bytes(*w);
    }
    repacked_bytes_ = bytes;
}

size_t Model::weight_bytes() const {
    size_t total = 0;
    for (const GgufTensor& t : gguf_.tensors()) total += t.n_bytes;
    return total;
}

size_t Model::bytes_per_token() const {
    size_t total = matrix_bytes(output_) + matrix_bytes(token_embd_) / token_embd_.n_rows;
    for (const LayerWeights& l : layers_) {
        for (const WeightMatrix* w : {&l.wq, &l.wk, &l.wv, &l.wo}) total += matrix_bytes(*w);
        if (l.experts.empty()) {
            for (const WeightMatrix* w : {&l.ffn.gate, &l.ffn.up, &l.ffn.down}) total += matrix_bytes(*w);
        } else {
            // Experts of one layer share one type and shape, so any n_expert_used of them.
            const FfnWeights& e = l.experts[0];
            total += matrix_bytes(l.router) +
                     config_.n_expert_used * (matrix_bytes(e.gate) + matrix_bytes(e.up) + matrix_bytes(e.down));
        }
    }
    return total;
}

}  // namespace kiln
