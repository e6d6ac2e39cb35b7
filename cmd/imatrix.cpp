// kiln imatrix: an importance matrix of a model over a text, in llama.cpp's imatrix GGUF
// format, for kiln quantize --imatrix (or llama-quantize --imatrix).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "engine/error.h"
#include "engine/imatrix.h"
#include "engine/machine.h"

namespace kiln::cli {

namespace {

struct ImatrixArgs {
    ModelArgs model;
    PromptArgs text;
    std::string out = "imatrix.gguf";
    long ctx = 512;
    long chunks = 0;
    bool process_output = false;
    int threads = 0;
};

int run_imatrix(const ImatrixArgs& a) {
    if (a.ctx < 2) throw Error("-c/--ctx-size must be at least 2");
    if (a.chunks < 0) throw Error("--chunks must be 0 (every chunk of the text) or at least 2");
    if (a.threads < 0) throw Error("-t/--threads must be positive (0: physical cores)");
    ModelArgs model_args = a.model;
    model_args.threads = a.threads;
    const auto model = open_model(model_args);
    const Tokenizer& tok = model->tokenizer();
    const std::vector<Token> tokens = tok.encode(read_prompt(a.text), tok.add_bos());
    SessionOptions so;
    so.n_ctx = static_cast<size_t>(a.ctx);
    so.n_threads = a.threads > 0 ? a.threads : physical_cores();
    Session session(*model, so);
    ImatrixOptions o;
    o.n_ctx = so.n_ctx;
    o.max_chunks = static_cast<size_t>(a.chunks);
    o.process_output = a.process_output;
    const bool tty = isatty(STDERR_FILENO) != 0;
    const auto t0 = std::chrono::steady_clock::now();
    ImportanceMatrix m = compute_imatrix(session, tokens, o, [&](const ImatrixProgress& p) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "%simatrix: chunk %zu/%zu, %.1f s, %.0f s left, perplexity %.4f%s", tty ? "\r" : "", p.chunk,
                     p.n_chunks, s, s / p.chunk * (p.n_chunks - p.chunk), p.ppl, tty ? "" : "\n");
    });
    if (tty) std::fputc('\n', stderr);
    m.datasets.push_back(a.text.file.empty() ? "prompt" : a.text.file);
    m.save(a.out);
    spdlog::info("{}: {} matrices over {} chunks of {} tokens", a.out, m.entries.size(), m.chunk_count, m.chunk_size);
    return 0;
}

}  // namespace

Command add_imatrix_command(CLI::App& parent) {
    auto a = std::make_shared<ImatrixArgs>();
    CLI::App* app = parent.add_subcommand("imatrix", "An importance matrix of a model over a text, for kiln quantize --imatrix");
    add_model_options(*app, a->model);
    add_prompt_options(*app, a->text);
    app->add_option("-o,--output", a->out, "Where to write it (llama.cpp's imatrix GGUF format)")->capture_default_str();
    app->add_option("-c,--ctx-size", a->ctx, "Tokens per chunk")->capture_default_str();
    app->add_option("--chunks", a->chunks, "Chunks to process (0: every whole chunk of the text)")->capture_default_str();
    app->add_flag("--process-output", a->process_output, "Also collect output.weight's inputs");
    app->add_option("-t,--threads", a->threads, "Threads (0: physical cores)")->capture_default_str();
    return {app, [a] { return run_imatrix(*a); }};
}

}  // namespace kiln::cli
