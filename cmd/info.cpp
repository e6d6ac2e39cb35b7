// kiln info: what a GGUF model holds and the memory it will take.
#include <cstdio>
#include <memory>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "engine/forward.h"
#include "engine/machine.h"
#include "engine/session.h"

namespace kiln::cli {

namespace {

struct InfoArgs {
    ModelArgs model;
    long ctx = 0;
};

std::string describe(const GgufValue& v) {
    switch (v.type) {
        case GgufType::string: {
            std::string s(v.str.substr(0, 200));
            return "\"" + s + (v.str.size() > 200 ? "...\"" : "\"");
        }
        case GgufType::array: return std::string("[") + gguf_type_name(v.elem_type) + " x " + std::to_string(v.count) + "]";
        case GgufType::f32:
        case GgufType::f64: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%g", v.real);
            return buf;
        }
        case GgufType::boolean: return v.uinteger ? "true" : "false";
        case GgufType::i8: case GgufType::i16: case GgufType::i32: case GgufType::i64: return std::to_string(v.integer);
        default: return std::to_string(v.uinteger);
    }
}

int info(const InfoArgs& a) {
    const auto model = open_model(a.model);
    const GgufFile& g = model->gguf();
    const ModelConfig& c = model->config();
    const size_t n_ctx = context_size(*model, a.ctx);
    std::printf("file: %s (GGUF v%u, %s)\n", a.model.path.c_str(), g.version(), format_bytes(g.file_size()).c_str());
    std::printf("\nmetadata (%zu keys):\n", g.metadata().size());
    for (const auto& [key, value] : g.metadata())
        std::printf("  %-44s %-6s %s\n", key.c_str(), gguf_type_name(value.type), describe(value).c_str());
    std::printf("\ntensors (%zu):\n  %-32s %-6s %-22s %s\n", g.tensors().size(), "name", "type", "shape", "bytes");
    for (const GgufTensor& t : g.tensors()) {
        std::string shape;
        for (uint32_t d = 0; d < t.n_dims; ++d) shape += (d ? " x " : "") + std::to_string(t.dims[d]);
        std::printf("  %-32s %-6s %-22s %llu\n", t.name.c_str(), type_info(static_cast<uint32_t>(t.type))->name,
                    shape.c_str(), static_cast<unsigned long long>(t.n_bytes));
    }
    std::printf("\nmodel: %s, %zu layers, dim %zu, ffn %zu, %zu heads (%zu KV), head size %zu, vocab %zu, trained context %zu\n",
                std::string(c.arch->name).c_str(), c.n_layer, c.n_embd, c.n_ff, c.n_head, c.n_kv_head, c.head_dim, c.n_vocab,
                c.n_ctx_train);
    if (c.n_expert > 0) std::printf("mixture of experts: %zu experts per layer, %zu used per token\n", c.n_expert, c.n_expert_used);
    const size_t n_batch = SessionOptions{}.n_batch;
    std::printf("memory: weights %s (%s), KV cache %s for a context of %zu (f16)\n", format_bytes(model->weight_bytes()).c_str(),
                model->gguf().copied() ? "copied" : "mapped",
                format_bytes(KvCache::bytes(c, n_ctx, DType::F16, n_batch)).c_str(), n_ctx);
    if (const std::string swa = sliding_window_summary(c, n_ctx, n_batch); !swa.empty()) std::printf("sliding window: %s\n", swa.c_str());
    std::printf("kernels: %s (best on this CPU: %s)\n", isa_name(model->isa()), isa_name(detect_isa()));
    return 0;
}

}  // namespace

Command add_info_command(CLI::App& parent) {
    auto a = std::make_shared<InfoArgs>();
    CLI::App* app = parent.add_subcommand("info", "Print a model's metadata, tensors and memory needs");
    add_model_options(*app, a->model);
    app->add_option("-c,--ctx-size", a->ctx, "Context size for the KV cache estimate (0: min(4096, trained))");
    return {app, [a] { return info(*a); }};
}

}  // namespace kiln::cli
