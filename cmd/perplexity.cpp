// kiln perplexity: how well a model predicts a text, comparable with llama-perplexity.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "engine/error.h"
#include "engine/machine.h"
#include "engine/perplexity.h"

namespace kiln::cli {

namespace {

struct PerplexityArgs {
    ModelArgs model;
    PromptArgs text;
    long ctx = 512;
    int threads = 0;
    std::string cache_type = "f16";
};

int run_perplexity(const PerplexityArgs& a) {
    if (a.ctx < 2) throw Error("-c/--ctx-size must be at least 2");
    if (a.threads < 0) throw Error("-t/--threads must be positive (0: physical cores)");
    const DType kv_type = cache_type(a.cache_type);
    ModelArgs model_args = a.model;
    model_args.threads = a.threads;
    const auto model = open_model(model_args);
    const Tokenizer& tok = model->tokenizer();
    const auto t_tok = std::chrono::steady_clock::now();
    const std::vector<Token> tokens = tok.encode(read_prompt(a.text), tok.add_bos());
    spdlog::info("tokenized {} tokens in {:.2f} s", tokens.size(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t_tok).count());
    SessionOptions so;
    so.n_ctx = static_cast<size_t>(a.ctx);
    so.n_threads = a.threads > 0 ? a.threads : physical_cores();
    so.cache_type = kv_type;
    Session session(*model, so);
    const auto t0 = std::chrono::steady_clock::now();
    const PerplexityResult r = perplexity(session, tokens, so.n_ctx, [](size_t chunk, double ppl) {
        std::printf("[%zu]%.4f,", chunk, ppl);
        std::fflush(stdout);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.uncertainty);
    spdlog::info("{} chunks of {} tokens, {} scored, {:.2f} s ({:.1f} tokens/s)", r.n_chunks, so.n_ctx, r.n_scored, s,
                 r.n_chunks * so.n_ctx / s);
    return 0;
}

}  // namespace

Command add_perplexity_command(CLI::App& parent) {
    auto a = std::make_shared<PerplexityArgs>();
    CLI::App* app = parent.add_subcommand("perplexity", "Perplexity of a text, as llama-perplexity computes it");
    add_model_options(*app, a->model);
    add_prompt_options(*app, a->text);
    app->add_option("-c,--ctx-size", a->ctx, "Tokens per chunk")->capture_default_str();
    add_cache_type_option(*app, a->cache_type);
    app->add_option("-t,--threads", a->threads, "Threads (0: physical cores)")->capture_default_str();
    return {app, [a] { return run_perplexity(*a); }};
}

}  // namespace kiln::cli
