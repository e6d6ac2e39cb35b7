// kiln run: generate text from a prompt, streamed to stdout.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "engine/error.h"
#include "engine/session.h"
#include "kernels/cpu.h"
#include "kernels/ops.h"
#include "tokenizer/stream_decoder.h"

namespace kiln::cli {

namespace {

struct RunArgs {
    ModelArgs model;
    PromptArgs prompt;
    long n_predict = 256;
    long ctx = 0;
    int threads = 0;
    float temp = 0.0f;
    bool echo = false;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void write_out(const std::string& s) {
    if (s.empty()) return;
    if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() || std::fflush(stdout) != 0)
        throw Error("cannot write to standard output");
}

int run(const RunArgs& a) {
    if (a.n_predict < -1) throw Error("-n/--n-predict must be -1 (until end of text or full context) or more");
    if (a.threads < 0) throw Error("-t/--threads must be positive");
    if (a.temp != 0.0f) throw Error("--temp: only greedy decoding (--temp 0) is available so far");
    const auto t_load = std::chrono::steady_clock::now();
    const auto model = open_model(a.model);
    SessionOptions so;
    so.n_ctx = context_size(*model, a.ctx);
    so.n_threads = a.threads > 0 ? a.threads : physical_cores();
    Session session(*model, so);
    const double load_s = seconds_since(t_load);

    const Tokenizer& tok = model->tokenizer();
    const std::string text = read_prompt(a.prompt);
    const std::vector<Token> prompt = tok.encode(text, tok.add_bos());
    if (prompt.empty()) throw Error("the prompt is empty");
    if (prompt.size() >= so.n_ctx)
        throw Error("the prompt has " + std::to_string(prompt.size()) + " tokens, which leaves no room in a context of " +
                    std::to_string(so.n_ctx) + " (raise -c/--ctx-size)");
    spdlog::debug("prompt: {} tokens, context {}, {} threads, kernels {}", prompt.size(), so.n_ctx, so.n_threads,
                  isa_name(model->isa()));
    if (a.echo) write_out(text);

    const auto t_prompt = std::chrono::steady_clock::now();
    std::span<const float> logits = session.eval(prompt);
    const double prompt_s = seconds_since(t_prompt);

    const auto t_gen = std::chrono::steady_clock::now();
    StreamDecoder decoder(tok, false);
    size_t generated = 0;
    while (a.n_predict < 0 || generated < static_cast<size_t>(a.n_predict)) {
        const Token next = static_cast<Token>(argmax(logits.data(), logits.size()));
        if (next == tok.eos()) break;
        ++generated;
        write_out(decoder.push(next));
        if (session.n_past() == session.n_ctx()) {
            spdlog::warn("context of {} tokens is full; stopping", session.n_ctx());
            break;
        }
        if (a.n_predict >= 0 && generated == static_cast<size_t>(a.n_predict)) break;
        logits = session.eval({&next, 1});
    }
    write_out(decoder.flush());
    const double gen_s = seconds_since(t_gen);

    spdlog::info("load {:.3f} s | prompt {} tokens, {:.1f} t/s | generated {} tokens, {:.1f} t/s", load_s,
                 prompt.size(), prompt.size() / prompt_s, generated, generated > 0 ? generated / gen_s : 0.0);
    return 0;
}

}  // namespace

Command add_run_command(CLI::App& parent) {
    auto a = std::make_shared<RunArgs>();
    CLI::App* app = parent.add_subcommand("run", "Generate text from a prompt, streamed to stdout");
    add_model_options(*app, a->model);
    add_prompt_options(*app, a->prompt);
    app->add_option("-n,--n-predict", a->n_predict, "Tokens to generate (-1: until end of text or full context)")->capture_default_str();
    app->add_option("-c,--ctx-size", a->ctx, "Context size in tokens (0: min(4096, trained context))")->capture_default_str();
    app->add_option("-t,--threads", a->threads, "Threads (0: physical cores)")->capture_default_str();
    app->add_option("--temp", a->temp, "Temperature (0: greedy)")->capture_default_str();
    app->add_flag("--echo", a->echo, "Print the prompt before the generated text");
    return {app, [a] { return run(*a); }};
}

}  // namespace kiln::cli
