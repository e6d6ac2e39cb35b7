// kiln run: generate text from a prompt, streamed to stdout (or one JSON object with --json).
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cmd/chat_options.h"
#include "cmd/commands.h"
#include "cmd/options.h"
#include "engine/conversation.h"
#include "engine/error.h"
#include "engine/generation.h"
#include "engine/machine.h"
#include "engine/reasoning.h"

namespace kiln::cli {

namespace {

struct RunArgs {
    ModelArgs model;
    PromptArgs prompt;
    GenerationParams gen;
    std::optional<uint64_t> seed;
    long ctx = 0;
    int threads = 0;
    bool echo = false;
    bool json = false;
    bool special = false;
    std::string cache_type = "f16";
    std::string color = "never";
    bool chat = false;
    std::string system;
    std::string messages;  // earlier turns, for --chat
    ChatTemplateArgs chat_template;
    std::string reasoning = "show";
    GrammarArgs grammar;
    std::string prompt_cache;
};

// Ctrl-C: the first asks generation to stop after the current token, the second exits now.
std::atomic<bool> g_interrupted{false};

void on_sigint(int) {
    if (g_interrupted.exchange(true)) _exit(130);
}

// Four bands of the model's probability for the token, from sure to unsure.
const char* color_for(float p) {
    if (p >= 0.9f) return "\x1b[32m";        // green
    if (p >= 0.5f) return "\x1b[33m";        // yellow
    if (p >= 0.25f) return "\x1b[38;5;208m"; // orange
    return "\x1b[31m";                       // red
}

bool use_color(const std::string& when) {
    if (when == "always") return true;
    if (when == "never") return false;
    if (when == "auto") return isatty(STDOUT_FILENO) == 1;
    throw Error("--color must be auto, always or never");
}

nlohmann::json result_json(const Tokenizer& tok, const GenerationResult& r, uint64_t seed, double load_s,
                           const SplitReply* split) {
    const double n_gen = static_cast<double>(r.tokens.size());
    nlohmann::json j = {
        {"text", r.text},
        {"finish_reason", finish_reason_name(r.finish)},
        {"seed", seed},
        {"prompt_tokens", r.prompt_tokens},
        {"completion_tokens", r.tokens.size()},
        {"tokens", tokens_json(tok, r.tokens)},
        {"timings",
         {{"load_s", load_s},
          {"prompt_s", r.prompt_seconds},
          {"prompt_tokens_per_s", r.prompt_seconds > 0 ? r.prompt_tokens / r.prompt_seconds : 0.0},
          {"generation_s", r.generation_seconds},
          {"generation_tokens_per_s", r.generation_seconds > 0 ? n_gen / r.generation_seconds : 0.0}}},
    };
    if (split != nullptr) {  // --chat: the answer, and the reasoning apart
        j["content"] = split->content;
        if (split->has_reasoning) j["reasoning"] = split->reasoning;
    }
    return j;
}

int run(RunArgs a) {
    if (a.threads < 0) throw Error("-t/--threads must be positive (0: physical cores)");
    if (a.reasoning != "show" && a.reasoning != "hide") throw Error("--reasoning must be show or hide");
    const ChatTemplateArgs& ct = a.chat_template;
    if (!a.chat && (!a.system.empty() || !a.messages.empty() || !ct.name.empty() || !ct.file.empty() || !ct.kwargs.empty()))
        throw Error("-sys/--system-prompt, --messages and the --chat-template options need --chat");
    const bool color = !a.json && use_color(a.color);
    a.gen.token_logprobs = a.json || color;
    a.gen.sampler.seed = a.seed ? *a.seed : random_seed();
    validate_generation(a.gen);  // before the model loads: a bad flag fails fast
    const DType kv_type = cache_type(a.cache_type);

    const auto t_load = std::chrono::steady_clock::now();
    a.model.threads = a.threads;
    const auto model = open_model(a.model);
    const SessionOptions so = session_options(*model, a.ctx, a.threads, kv_type);
    resolve_context(a.gen, so.n_ctx);
    Session session(*model, so);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();

    const Tokenizer& tok = model->tokenizer();
    std::string text = read_prompt(a.prompt);
    if (text.empty()) throw Error("the prompt is empty");
    bool opens_reasoning = false;
    if (a.chat) {
        // -p is the user's message, -sys the system's, rendered with the chat template.
        const ChatTemplate tmpl = open_chat_template(a.chat_template, &model->gguf(), &tok);
        nlohmann::ordered_json vars = chat_template_kwargs(a.chat_template);
        vars["messages"] = a.messages.empty() ? nlohmann::ordered_json::array() : read_messages(a.messages);
        if (!a.system.empty())
            vars["messages"].insert(vars["messages"].begin(), nlohmann::ordered_json{{"role", "system"}, {"content", a.system}});
        vars["messages"].push_back({{"role", "user"}, {"content", text}});
        vars["add_generation_prompt"] = true;
        text = tmpl.render(vars, chat_time(a.chat_template));
        opens_reasoning = prompt_opens_reasoning(text);
        spdlog::debug("chat prompt: {}", text);
    }
    check_prompt_bytes(text.size(), longest_token_bytes(tok), so.n_ctx);
    std::shared_ptr<const VocabTrie> trie;
    a.gen.constraint = grammar_constraint(a.grammar, tok, trie);
    const std::vector<Token> prompt = tokenize_prompt(tok, text, a.special || a.chat);
    if (prompt.empty()) throw Error("the prompt is empty");
    if (prompt.size() >= so.n_ctx)
        throw Error("the prompt has " + std::to_string(prompt.size()) + " tokens, which leaves no room in a context of " +
                    std::to_string(so.n_ctx) + " (raise -c/--ctx-size)");
    spdlog::info("seed {}", a.gen.sampler.seed);
    if (const std::string swa = sliding_window_summary(model->config(), so.n_ctx, so.n_batch); !swa.empty())
        spdlog::info("{}", swa);
    spdlog::debug("prompt: {} tokens, context {}, {} threads, kernels {}", prompt.size(), so.n_ctx, so.n_threads,
                  isa_name(model->isa()));
    if (color) spdlog::info("colors: \x1b[32mp >= 0.9\x1b[0m \x1b[33mp >= 0.5\x1b[0m \x1b[38;5;208mp >= 0.25\x1b[0m \x1b[31mp < 0.25\x1b[0m");
    if (a.echo && !a.json) write_stdout(text);

    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, nullptr);
    const TextSink raw = [&](std::string_view piece, float prob) {
        if (a.json) return;
        if (!color) return write_stdout(piece);
        write_stdout(std::string(color_for(prob)) + std::string(piece) + "\x1b[0m");
    };
    // With --chat, reasoning is shown (dimmed on a terminal) or hidden.
    ReasoningSplitter splitter(opens_reasoning);
    const bool dim = isatty(STDOUT_FILENO) == 1 && !color;
    const ReasoningSplitter::Sink reasoned = [&](std::string_view piece, bool reasoning) {
        if (!reasoning) return raw(piece, 1.0f);
        if (a.reasoning == "hide" || a.json) return;
        write_stdout(dim ? "\x1b[2m" + std::string(piece) + "\x1b[0m" : std::string(piece));
    };
    const TextSink sink = !a.chat ? raw : TextSink([&](std::string_view piece, float) { splitter.push(piece, reasoned); });
    const auto t_cache = std::chrono::steady_clock::now();
    const size_t cached = load_prompt_cache_for(a.prompt_cache, session, prompt);
    const double cache_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_cache).count();
    GenerationResult r = generate(session, prompt, a.gen, sink, &g_interrupted, cached);
    r.prompt_seconds += cache_s;  // time to the first token counts the loading
    save_prompt_cache_for(a.prompt_cache, session, prompt, r.tokens);
    if (a.chat) splitter.flush(reasoned);
    const SplitReply split = split_reasoning(r.text, opens_reasoning);
    if (a.json)
        write_stdout(result_json(tok, r, a.gen.sampler.seed, load_s, a.chat ? &split : nullptr)
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");

    const double n_gen = static_cast<double>(r.tokens.size());
    const double gen_tps = n_gen > 0 ? n_gen / r.generation_seconds : 0.0;
    spdlog::info("load {:.3f} s | prompt {} tokens, {:.1f} t/s | generated {} tokens, {:.1f} t/s, {:.1f} GB/s of weights | {}",
                 load_s, prompt.size(), prompt.size() / r.prompt_seconds, r.tokens.size(), gen_tps,
                 gen_tps * static_cast<double>(model->bytes_per_token()) / 1e9, finish_reason_name(r.finish));
    if (a.gen.constraint)
        spdlog::info("grammar: {:.1f}% of generation time finding the allowed tokens ({:.3f} s)",
                     r.generation_seconds > 0 ? 100.0 * r.mask_seconds / r.generation_seconds : 0.0, r.mask_seconds);
    return r.finish == FinishReason::interrupted ? 130 : 0;
}

}  // namespace

Command add_run_command(CLI::App& parent) {
    auto a = std::make_shared<RunArgs>();
    CLI::App* app = parent.add_subcommand("run", "Generate text from a prompt, streamed to stdout");
    app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later flag wins
    add_model_options(*app, a->model);
    add_prompt_options(*app, a->prompt);
    add_generation_options(*app, a->gen, a->seed);
    app->add_option("-c,--ctx-size", a->ctx, "Context size in tokens (0: min(4096, trained context))")->capture_default_str();
    app->add_option("-t,--threads", a->threads, "Threads (0: physical cores)")->capture_default_str();
    app->add_flag("--json", a->json, "Print one JSON object at the end instead of streaming text");
    app->add_option("--color", a->color, "Colour tokens by probability: auto (when stdout is a terminal), always, never")
        ->expected(0, 1)
        ->default_str("auto");
    add_special_option(*app, a->special);
    add_cache_type_option(*app, a->cache_type);
    app->add_flag("--echo", a->echo, "Print the prompt before the generated text");
    app->add_flag("--chat", a->chat, "-p is a user message: render it with the model's chat template (see kiln prompt)");
    app->add_option("--system-prompt", a->system, "With --chat: the system message (also -sys)");
    app->add_option("--messages", a->messages, "With --chat: a JSON file of the conversation so far, -p its next user message");
    add_chat_template_options(*app, a->chat_template);
    add_prompt_cache_option(*app, a->prompt_cache);
    app->add_option("--reasoning", a->reasoning, "With --chat: show or hide the reasoning between <think> and </think>")
        ->capture_default_str();
    add_grammar_options(*app, a->grammar);
    return {app, [a] { return run(*a); }};
}

}  // namespace kiln::cli
