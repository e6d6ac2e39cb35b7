#include "cmd/options.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>

#include "engine/constraint.h"
#include "engine/error.h"
#include "engine/machine.h"
#include "engine/prompt_cache.h"

namespace kiln::cli {

void add_model_options(CLI::App& app, ModelArgs& args) {
    app.add_option("-m,--model", args.path, "GGUF model file")->required();
    app.add_option("--tokenizer", args.tokenizer, "A tokenizer.model (SentencePiece) or tokenizer.json (byte-level BPE) to use instead of the GGUF vocabulary");
    app.add_flag("--allow-unused-tensors", args.allow_unused_tensors,
                 "Load a file that holds tensors its architecture does not use (they are ignored)");
    add_load_options(app, args.load);
}

void add_load_options(CLI::App& app, FileLoad& load) {
    auto* map = app.add_flag_callback("--mmap", [&load] { load = FileLoad::map; },
                                      "Map the file (zero-copy) even when it would fit in memory");
    app.add_flag_callback("--no-mmap", [&load] { load = FileLoad::copy; },
                          "Copy the weights into huge-page memory even when memory is short")
        ->excludes(map);
}

std::unique_ptr<const Model> open_model(const ModelArgs& args) {
    ModelOptions options;
    options.tokenizer_path = args.tokenizer;
    options.load = args.load;
    options.allow_unused_tensors = args.allow_unused_tensors;
    options.n_threads = args.threads > 0 ? args.threads : physical_cores();
    options.isa = detect_isa();
    if (const char* forced = std::getenv("KILN_ISA"); forced != nullptr && *forced != '\0') {
        const auto isa = parse_isa(forced);
        if (!isa) throw Error(std::string("KILN_ISA=") + forced + " is not one of scalar, avx2, avx512, amx");
        if (!isa_supported(*isa)) throw Error(std::string("KILN_ISA=") + forced + ": this CPU does not support it");
        options.isa = *isa;
    }
    spdlog::debug("kernels: {}", isa_name(options.isa));
    auto model = Model::load(args.path, options);
    spdlog::debug("weights {}", model->gguf().copied() ? "copied into huge-page memory" : "mapped from the file");
    if (model->repacked_bytes() > 0)
        spdlog::debug("{} of weights rearranged for the AMX kernels", format_bytes(model->repacked_bytes()));
    return model;
}

void add_prompt_options(CLI::App& app, PromptArgs& args) {
    auto* p = app.add_option("-p,--prompt", args.prompt, "Prompt text, or - to read standard input");
    app.add_option("-f,--file", args.file, "Read the prompt from a file")->excludes(p);
}

std::string read_prompt(const PromptArgs& args) {
    if (!args.file.empty()) {
        std::ifstream in(args.file, std::ios::binary);
        if (!in) throw Error(args.file + ": cannot read prompt file");
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    if (args.prompt == "-") return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    return args.prompt;
}

size_t longest_token_bytes(const Tokenizer& tok) {
    size_t longest = 1;
    for (size_t id = 0; id < tok.n_vocab(); ++id) longest = std::max(longest, tok.token_text(static_cast<Token>(id)).size());
    return longest;
}

void check_prompt_bytes(size_t bytes, size_t longest_token, size_t n_ctx) {
    if (bytes / 4 / longest_token >= n_ctx)
        throw Error("the prompt has " + std::to_string(bytes) + " bytes, more than a context of " + std::to_string(n_ctx) +
                    " tokens can hold");
}

size_t context_size(const Model& model, long requested) {
    if (requested < 0) throw Error("-c/--ctx-size must be positive (0 = the model's trained context, at most 4096)");
    constexpr long kMaxContext = long{1} << 24;
    if (requested > kMaxContext) throw Error("-c/--ctx-size must be at most " + std::to_string(kMaxContext));
    if (requested == 0) return std::min<size_t>(4096, model.config().n_ctx_train);
    return static_cast<size_t>(requested);
}

SessionOptions session_options(const Model& model, long ctx, int threads, DType cache) {
    SessionOptions so;
    so.n_ctx = context_size(model, ctx);
    so.n_threads = threads > 0 ? threads : physical_cores();
    so.cache_type = cache;
    return so;
}

void add_cache_type_option(CLI::App& app, std::string& name) {
    app.add_option("--cache-type", name, "KV cache type: f32, f16 or q8_0 (q8_0: heads of a multiple of 32)")
        ->capture_default_str();
}

DType cache_type(const std::string& name) {
    const auto t = parse_cache_type(name);
    if (!t) throw Error("--cache-type '" + name + "' is not one of f32, f16, q8_0");
    return *t;
}

void add_grammar_options(CLI::App& app, GrammarArgs& args) {
    app.add_option("--grammar", args.grammar, "A GBNF grammar the output must follow (root rule: root)");
    app.add_option("--grammar-file", args.grammar_file, "A GBNF grammar file");
    app.add_option("--json-schema", args.json_schema, "A JSON Schema the output must be valid JSON for");
    app.add_option("--json-schema-file", args.json_schema_file, "A JSON Schema file");
}

namespace {

std::string read_text_file(const std::string& path, const char* flag) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(std::string("cannot read ") + flag + " " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

std::shared_ptr<const Constraint> constraint_from(const std::string& gbnf, const nlohmann::ordered_json* schema,
                                                  const Tokenizer& tok, std::shared_ptr<const VocabTrie>& trie) {
    if (!trie) trie = std::make_shared<const VocabTrie>(tok);
    return schema != nullptr ? compile_json_schema(*schema, trie) : compile_grammar(gbnf, trie);
}

std::shared_ptr<const Constraint> grammar_constraint(const GrammarArgs& a, const Tokenizer& tok,
                                                     std::shared_ptr<const VocabTrie>& trie) {
    const int given = !a.grammar.empty() + !a.grammar_file.empty() + !a.json_schema.empty() + !a.json_schema_file.empty();
    if (given == 0) return nullptr;
    if (given > 1) throw Error("give one of --grammar, --grammar-file, --json-schema, --json-schema-file");
    if (!a.grammar.empty() || !a.grammar_file.empty())
        return constraint_from(a.grammar.empty() ? read_text_file(a.grammar_file, "--grammar-file") : a.grammar, nullptr, tok, trie);
    const std::string text = a.json_schema.empty() ? read_text_file(a.json_schema_file, "--json-schema-file") : a.json_schema;
    nlohmann::ordered_json schema;
    try {
        schema = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw Error(std::string("the JSON schema is not JSON: ") + e.what());
    }
    return constraint_from("", &schema, tok, trie);
}

void add_special_option(CLI::App& app, bool& special) {
    app.add_flag("--special", special,
                 "Parse special tokens in prompts: <|eot_id|>, </s> and the like become those tokens, not text");
}

void add_generation_options(CLI::App& app, GenerationParams& gen, std::optional<uint64_t>& seed) {
    SamplerParams& s = gen.sampler;
    app.add_option("-n,--n-predict", gen.n_predict, "Tokens to generate (-1: until end of text or full context)")
        ->capture_default_str();
    app.add_option("--temp", s.temp, "Temperature (0: greedy, always the most likely token)")->capture_default_str();
    app.add_option("--top-k", s.top_k, "Keep the k most likely tokens (0: off)")->capture_default_str();
    app.add_option("--typical", s.typical, "Locally typical sampling mass (1: off)")->capture_default_str();
    app.add_option("--top-p", s.top_p, "Keep the most likely tokens up to this mass (1: off)")->capture_default_str();
    app.add_option("--min-p", s.min_p, "Drop tokens below min-p times the top probability (0: off)")->capture_default_str();
    app.add_option("--repeat-penalty", s.repeat_penalty, "Penalty for recent tokens (1: off)")->capture_default_str();
    app.add_option("--repeat-last-n", s.repeat_last_n, "Recent tokens the penalties look at (0: off, -1: context)")
        ->capture_default_str();
    app.add_option("--frequency-penalty", s.frequency_penalty, "Subtract this times a recent token's count (0: off)")
        ->capture_default_str();
    app.add_option("--presence-penalty", s.presence_penalty, "Subtract this from every recent token (0: off)")
        ->capture_default_str();
    app.add_option("--seed", seed, "Random seed (default: chosen and printed on stderr)");
    app.add_option("--stop", gen.stops, "Stop when the output ends with this text (repeatable; not printed)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_flag("--ignore-eos", gen.ignore_eos, "Do not stop at the end-of-text token");
    app.add_option("--logprobs", gen.n_logprobs, "In JSON output: the N most likely alternatives per token");
}

void validate_generation(const GenerationParams& gen) {
    if (gen.n_predict < -1) throw ParamError("n_predict", "must be -1 (until end of text or a full context) or more");
    if (gen.sampler.repeat_last_n < -1) throw ParamError("repeat_last_n", "must be -1 (whole context) or more");
    SamplerParams check = gen.sampler;
    check.repeat_last_n = std::max(check.repeat_last_n, 0);
    validate(check);
}

void resolve_context(GenerationParams& gen, size_t n_ctx) {
    if (gen.sampler.repeat_last_n == -1) gen.sampler.repeat_last_n = static_cast<int>(n_ctx);
}

std::string flag_name(const std::string& param) {
    static const std::map<std::string, std::string> odd = {{"n_predict", "-n/--n-predict"}, {"n_parallel", "--parallel"}};
    if (const auto it = odd.find(param); it != odd.end()) return it->second;
    std::string flag = "--" + param;
    std::replace(flag.begin(), flag.end(), '_', '-');
    return flag;
}

void add_prompt_cache_option(CLI::App& app, std::string& path) {
    app.add_option("--prompt-cache", path,
                   "A file of the KV cache after the prompt: loaded when the prompt starts with its tokens, saved after");
}

size_t load_prompt_cache_for(const std::string& path, Session& session, std::span<const Token> prompt) {
    if (path.empty()) return 0;
    PromptCacheLoad l;
    try {
        l = load_prompt_cache(path, session, prompt);
    } catch (const Error& e) {
        session.clear();
        l = {0, path + ": " + e.what(), true};
    }
    if (l.damaged) spdlog::error("{}; computing the prompt instead", l.problem);
    else if (!l.problem.empty()) spdlog::warn("{}; computing the prompt instead", l.problem);
    else if (l.n_tokens > 0) spdlog::info("prompt cache: {} of the prompt's {} tokens loaded from {}", l.n_tokens, prompt.size(), path);
    return l.n_tokens;
}

void save_prompt_cache_for(const std::string& path, const Session& session, std::span<const Token> prompt,
                           const std::vector<GeneratedToken>& generated) {
    if (path.empty()) return;
    std::vector<Token> tokens(prompt.begin(), prompt.end());
    for (const GeneratedToken& t : generated) tokens.push_back(t.id);
    if (const std::string problem = save_prompt_cache(path, session, tokens); !problem.empty()) spdlog::warn("{}", problem);
}

uint64_t random_seed() { return std::random_device{}() * (uint64_t{1} << 32) + std::random_device{}(); }

nlohmann::json tokens_json(const Tokenizer& tok, const std::vector<GeneratedToken>& tokens) {
    const auto one = [&](Token id, float logprob) {
        return nlohmann::json{{"id", id}, {"piece", tok.token_text(id)}, {"logprob", logprob}};
    };
    nlohmann::json out = nlohmann::json::array();
    for (const GeneratedToken& t : tokens) {
        nlohmann::json j = one(t.id, t.logprob);
        if (!t.top.empty()) {
            j["top_logprobs"] = nlohmann::json::array();
            for (const TokenLogprob& alt : t.top) j["top_logprobs"].push_back(one(alt.id, alt.logprob));
        }
        out.push_back(std::move(j));
    }
    return out;
}

std::string format_bytes(size_t bytes) {
    char buf[32];
    if (bytes >= (size_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
    else if (bytes >= (size_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / 1048576.0);
    else if (bytes >= 1024) std::snprintf(buf, sizeof buf, "%.2f KiB", bytes / 1024.0);
    else std::snprintf(buf, sizeof buf, "%zu B", bytes);
    return buf;
}

void write_stdout(std::string_view s) {
    if (s.empty()) return;
    if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() || std::fflush(stdout) != 0)
        throw Error("cannot write to standard output");
}

void setup_logging(bool verbose, bool quiet) {
    auto logger = spdlog::stderr_color_mt("kiln");
    logger->set_pattern("%^kiln: %v%$");
    logger->set_level(quiet ? spdlog::level::warn : verbose ? spdlog::level::debug : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace kiln::cli
