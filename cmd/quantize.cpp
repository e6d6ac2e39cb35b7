// kiln quantize: write a model's weights in another type.
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <optional>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "engine/error.h"
#include "engine/imatrix.h"
#include "engine/machine.h"
#include "engine/quantize.h"

namespace kiln::cli {

namespace {

struct QuantizeArgs {
    std::string in, out, type, imatrix;
    int threads = 0;
};

int run_quantize(const QuantizeArgs& a) {
    const auto mix = parse_quant_mix(a.type);
    if (!mix) throw Error("--type '" + a.type + "' is not one of " + quant_mix_names());
    if (a.threads < 0) throw Error("-t/--threads must be positive (0: physical cores)");
    if (a.in == a.out) throw Error("the output must be another file than the input");
    std::optional<ImportanceMatrix> imatrix;
    if (!a.imatrix.empty()) {
        imatrix = ImportanceMatrix::load(a.imatrix);
        spdlog::info("{}: {} matrices over {} chunks of {} tokens", a.imatrix, imatrix->entries.size(), imatrix->chunk_count,
                     imatrix->chunk_size);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const QuantizeReport r = quantize_model(
        a.in, a.out, *mix, a.threads > 0 ? a.threads : physical_cores(),
        [](size_t i, size_t n, const std::string& name, const char* type) { spdlog::info("[{:4}/{}] {:32} -> {}", i + 1, n, name, type); },
        imatrix ? &*imatrix : nullptr);
    for (const std::string& f : r.fallbacks) spdlog::warn("fallback: {}", f);
    spdlog::info("{} -> {}: {} -> {} in {:.1f} s", a.in, a.out, format_bytes(r.in_bytes), format_bytes(r.out_bytes),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
}

}  // namespace

Command add_quantize_command(CLI::App& parent) {
    auto a = std::make_shared<QuantizeArgs>();
    CLI::App* app = parent.add_subcommand("quantize", "Write a GGUF model with its weights in another type");
    app->add_option("input", a->in, "GGUF model to read")->required();
    app->add_option("output", a->out, "GGUF file to write")->required();
    app->add_option("--type", a->type, std::string("Target: ") + quant_mix_names())->required();
    app->add_option("--imatrix", a->imatrix, "An importance matrix (kiln imatrix, llama-imatrix) to weigh each column's error by");
    app->add_option("-t,--threads", a->threads, "Threads (0: physical cores)");
    return {app, [a] { return run_quantize(*a); }};
}

}  // namespace kiln::cli
