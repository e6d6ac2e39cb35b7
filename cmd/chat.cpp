// kiln chat: a conversation with an instruct model. On a terminal: line editing and history
// (libedit), commands, replies streamed, Ctrl-C stopping a reply. Otherwise one user message
// per input line (or one JSON message per line with --jsonl) and one reply per output line,
// never waiting on a terminal.
#include <editline/readline.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cmd/chat_options.h"
#include "cmd/commands.h"
#include "cmd/options.h"
#include "engine/conversation.h"
#include "engine/reasoning.h"

namespace kiln::cli {

namespace {

struct ChatArgs {
    ModelArgs model;
    GenerationParams gen;
    std::optional<uint64_t> seed;
    long ctx = 0;
    int threads = 0;
    std::string cache_type = "f16";
    std::string system;
    std::string messages;  // a conversation to continue
    ChatTemplateArgs chat_template;
    std::string reasoning = "show";
    bool jsonl = false;
    GrammarArgs grammar;
    std::string prompt_cache;
};

std::atomic<bool> g_stop_reply{false};

// Ctrl-C stops the reply; a second one while it is still stopping ends kiln.
void stop_reply_on_sigint(int) {
    if (g_stop_reply.exchange(true)) _exit(130);
}

constexpr const char* kHelp =
    "  /system TEXT   set the system message (/system alone removes it)\n"
    "  /reset         forget the conversation (the system message stays)\n"
    "  /undo          take back your last message and its reply\n"
    "  /save FILE     write the conversation as JSON messages\n"
    "  /load FILE     continue a conversation saved with /save\n"
    "  /exit          leave (also Ctrl-D)\n"
    "  A line ending with \\ continues on the next; Ctrl-C stops a reply.\n";

class ChatLoop {
public:
    ChatLoop(const ChatArgs& a, Session& session, Conversation& conv, size_t n_ctx) : a_(a), session_(session), conv_(conv) {
        // Room kept for a reply: -n tokens, at most half the context (a quarter for -n -1).
        reserve_ = a.gen.n_predict > 0 ? std::min<size_t>(static_cast<size_t>(a.gen.n_predict), n_ctx / 2) : n_ctx / 4;
    }

    // One user message; the reply goes to stdout (reasoning shown or not), stats to stderr.
    // Returns the reply split into reasoning and answer.
    SplitReply turn(const std::string& user, bool terminal, bool stream) {
        g_stop_reply = false;
        const Conversation::Prompt prompt = conv_.add_user(user, reserve_);
        if (prompt.dropped > 0)
            spdlog::warn("the context was full: dropped the {} oldest message{} and computed the rest again", prompt.dropped,
                         prompt.dropped == 1 ? "" : "s");
        ReasoningSplitter splitter(prompt.opens_reasoning);
        const bool dim = terminal && isatty(STDOUT_FILENO) == 1;
        const ReasoningSplitter::Sink shown = [&](std::string_view piece, bool reasoning) {
            if (!stream || (reasoning && a_.reasoning == "hide")) return;
            write_stdout(reasoning && dim ? "\x1b[2m" + std::string(piece) + "\x1b[0m" : std::string(piece));
        };
        // --prompt-cache: the first turn (often a long system message) loads what the file has of
        // it; every turn saves what the cache then holds.
        if (conv_.held().empty()) conv_.adopt(prompt, load_prompt_cache_for(a_.prompt_cache, session_, prompt.tokens));
        const GenerationResult r =
            conv_.respond(prompt, a_.gen, [&](std::string_view piece, float) { splitter.push(piece, shown); }, &g_stop_reply);
        save_prompt_cache_for(a_.prompt_cache, session_, conv_.held(), {});
        splitter.flush(shown);
        const double n_gen = static_cast<double>(r.tokens.size());
        spdlog::info("prompt {} tokens ({} new), {:.1f} t/s | generated {} tokens, {:.1f} t/s | {}", r.prompt_tokens,
                     r.prompt_tokens_computed, r.prompt_seconds > 0 ? r.prompt_tokens_computed / r.prompt_seconds : 0.0,
                     r.tokens.size(), r.generation_seconds > 0 ? n_gen / r.generation_seconds : 0.0,
                     finish_reason_name(r.finish));
        return split_reasoning(r.text, prompt.opens_reasoning);
    }

    // A terminal command; returns false for /exit.
    bool command(const std::string& line) {
        const size_t sp = line.find(' ');
        const std::string cmd = line.substr(0, sp), arg = sp == std::string::npos ? "" : line.substr(sp + 1);
        if (cmd == "/exit" || cmd == "/quit") return false;
        if (cmd == "/help") std::fputs(kHelp, stderr);
        else if (cmd == "/system") {
            conv_.set_system(arg);
            std::fprintf(stderr, arg.empty() ? "(no system message)\n" : "(system message set)\n");
        } else if (cmd == "/reset") {
            conv_.reset();
            std::fprintf(stderr, "(conversation forgotten)\n");
        } else if (cmd == "/undo") std::fprintf(stderr, conv_.undo() ? "(last exchange taken back)\n" : "(nothing to undo)\n");
        else if (cmd == "/save") {
            if (arg.empty()) throw Error("/save needs a file name");
            std::ofstream out(arg, std::ios::binary);
            out << nlohmann::ordered_json{{"messages", conv_.messages()}}.dump(2) << "\n";
            if (!out) throw Error("cannot write " + arg);
            std::fprintf(stderr, "(saved %zu messages to %s)\n", conv_.messages().size(), arg.c_str());
        } else if (cmd == "/load") {
            if (arg.empty()) throw Error("/load needs a file name");
            conv_.set_messages(read_messages(arg));
            std::fprintf(stderr, "(loaded %zu messages)\n", conv_.messages().size());
        } else std::fprintf(stderr, "unknown command %s (/help lists them)\n", cmd.c_str());
        return true;
    }

private:
    const ChatArgs& a_;
    Session& session_;
    Conversation& conv_;
    size_t reserve_;
};

// One user message from the terminal, continued over lines ending with a backslash; false at
// end of input.
bool read_terminal_message(std::string& out) {
    out.clear();
    const char* prompt = "> ";
    for (;;) {
        char* line = readline(prompt);
        if (line == nullptr) return !out.empty();
        std::string s(line);
        std::free(line);
        const bool more = !s.empty() && s.back() == '\\';
        if (more) s.pop_back();
        out += s;
        if (!more) break;
        out += '\n';
        prompt = ". ";
    }
    if (!out.empty()) add_history(out.c_str());
    return true;
}

int chat(ChatArgs a) {
    if (a.threads < 0) throw Error("-t/--threads must be positive (0: physical cores)");
    if (a.reasoning != "show" && a.reasoning != "hide") throw Error("--reasoning must be show or hide");
    a.gen.sampler.seed = a.seed ? *a.seed : random_seed();
    validate_generation(a.gen);
    const DType kv_type = cache_type(a.cache_type);
    a.model.threads = a.threads;
    const auto model = open_model(a.model);
    const SessionOptions so = session_options(*model, a.ctx, a.threads, kv_type);
    resolve_context(a.gen, so.n_ctx);
    Session session(*model, so);
    std::shared_ptr<const VocabTrie> trie;
    a.gen.constraint = grammar_constraint(a.grammar, model->tokenizer(), trie);
    const ChatTemplate tmpl = open_chat_template(a.chat_template, &model->gguf(), &model->tokenizer());
    Conversation conv(session, tmpl, chat_template_kwargs(a.chat_template), chat_time(a.chat_template));
    if (!a.messages.empty()) conv.set_messages(read_messages(a.messages));
    if (!a.system.empty()) conv.set_system(a.system);
    ChatLoop loop(a, session, conv, so.n_ctx);
    spdlog::info("seed {}", a.gen.sampler.seed);

    struct sigaction sa {};
    sa.sa_handler = stop_reply_on_sigint;
    sigaction(SIGINT, &sa, nullptr);

    const bool terminal = isatty(STDIN_FILENO) == 1 && !a.jsonl;
    if (terminal) {
        std::fprintf(stderr, "kiln chat: /help for commands, /exit or Ctrl-D to leave\n");
        std::string msg;
        while (read_terminal_message(msg)) {
            if (msg.empty()) continue;
            try {
                if (msg[0] == '/') {
                    if (!loop.command(msg)) break;
                    continue;
                }
                loop.turn(msg, true, true);
                write_stdout("\n");
            } catch (const Error& e) {
                std::fprintf(stderr, "kiln: error: %s\n", e.what());
            }
        }
        return 0;
    }
    // Lines in, replies out: plain text, or JSON messages with --jsonl.
    std::string line;
    size_t line_no = 0;
    while (std::getline(std::cin, line)) {
        ++line_no;
        if (!a.jsonl) {
            loop.turn(line, false, true);
            write_stdout("\n");
            continue;
        }
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        nlohmann::ordered_json m;
        try {
            m = nlohmann::ordered_json::parse(line);
        } catch (const nlohmann::json::parse_error&) {
            throw Error("line " + std::to_string(line_no) + " is not JSON");
        }
        if (m.is_string()) m = {{"role", "user"}, {"content", m}};
        if (!m.is_object() || !m.contains("content") || !m["content"].is_string())
            throw Error("line " + std::to_string(line_no) + ": expected {\"role\": \"user\", \"content\": \"...\"}");
        const std::string role = m.value("role", "user");
        if (role == "system") {
            conv.set_system(m["content"].get<std::string>());
            continue;
        }
        if (role != "user") throw Error("line " + std::to_string(line_no) + ": role must be user or system, not " + role);
        const SplitReply reply = loop.turn(m["content"].get<std::string>(), false, false);
        nlohmann::ordered_json out = {{"role", "assistant"}, {"content", reply.content}};
        if (reply.has_reasoning) out["reasoning"] = reply.reasoning;
        write_stdout(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    }
    return 0;
}

}  // namespace

Command add_chat_command(CLI::App& parent) {
    auto a = std::make_shared<ChatArgs>();
    CLI::App* app = parent.add_subcommand("chat", "Talk with an instruct model, with its chat template");
    app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    add_model_options(*app, a->model);
    add_generation_options(*app, a->gen, a->seed);
    app->add_option("-c,--ctx-size", a->ctx, "Context size in tokens (0: min(4096, trained context))")->capture_default_str();
    app->add_option("-t,--threads", a->threads, "Threads (0: physical cores)")->capture_default_str();
    add_cache_type_option(*app, a->cache_type);
    app->add_option("--system-prompt", a->system, "The system message (also -sys)");
    app->add_option("--messages", a->messages, "A JSON file of messages to continue (as /save writes)");
    add_prompt_cache_option(*app, a->prompt_cache);
    add_chat_template_options(*app, a->chat_template);
    app->add_option("--reasoning", a->reasoning, "show (dimmed on a terminal) or hide the reasoning between <think> and </think>")
        ->capture_default_str();
    add_grammar_options(*app, a->grammar);
    app->add_flag("--jsonl", a->jsonl,
                  "One JSON message per line each way: {\"role\": \"user\", \"content\": ...} in, the assistant's out "
                  "(with its reasoning in \"reasoning\")");
    return {app, [a] { return chat(*a); }};
}

}  // namespace kiln::cli
