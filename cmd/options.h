// What the subcommands share: the model options, opening the model, reading a prompt.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/generation.h"
#include "engine/model.h"

namespace kiln::cli {

struct ModelArgs {
    std::string path;
    std::string tokenizer;
    FileLoad load = FileLoad::automatic;
    bool allow_unused_tensors = false;
    int threads = 0;  // for the work at load (-t; 0: physical cores)
};

// -m/--model (required), --tokenizer, --allow-unused-tensors and the load options.
void add_model_options(CLI::App& app, ModelArgs& args);

// --mmap / --no-mmap: force mapping the file, or copying it into huge-page memory; by default
// kiln copies when the file takes at most half of the available memory.
void add_load_options(CLI::App& app, FileLoad& load);

// Loads the model with the instruction set from KILN_ISA (scalar|avx2|avx512) or the best
// the CPU has. Throws Error.
std::unique_ptr<const Model> open_model(const ModelArgs& args);

struct PromptArgs {
    std::string prompt;
    std::string file;
};

// -p/--prompt (TEXT, or - for standard input) and -f/--file.
void add_prompt_options(CLI::App& app, PromptArgs& args);

// The prompt text the options name. Throws Error.
std::string read_prompt(const PromptArgs& args);

// The most bytes one token of the vocabulary decodes to.
size_t longest_token_bytes(const Tokenizer& tok);

// Refuses, before tokenizing, a prompt of so many bytes that its tokens cannot fit in n_ctx:
// no token covers more bytes than the longest, and normalization shrinks text by less than a
// factor of 4. (A 10 MB prompt would otherwise take seconds to tokenize.)
void check_prompt_bytes(size_t bytes, size_t longest_token, size_t n_ctx);

// -c: 0 means min(4096, the model's trained context).
size_t context_size(const Model& model, long requested);

// A session's options from -c, -t (0: physical cores) and the cache type.
SessionOptions session_options(const Model& model, long ctx, int threads, DType cache);

// --cache-type f32|f16|q8_0: the KV cache's element type (default f16, as llama.cpp's).
void add_cache_type_option(CLI::App& app, std::string& name);
// The type a --cache-type names. Throws Error.
DType cache_type(const std::string& name);

struct GrammarArgs {
    std::string grammar, grammar_file, json_schema, json_schema_file;
    bool any() const { return !grammar.empty() || !grammar_file.empty() || !json_schema.empty() || !json_schema_file.empty(); }
};
// --grammar TEXT, --grammar-file FILE, --json-schema JSON, --json-schema-file FILE.
void add_grammar_options(CLI::App& app, GrammarArgs& args);
// The constraint the options name (nullptr for none), over the model's vocabulary; trie holds
// the vocabulary's trie once built. Throws Error.
std::shared_ptr<const Constraint> grammar_constraint(const GrammarArgs& args, const Tokenizer& tok,
                                                     std::shared_ptr<const VocabTrie>& trie);
// A constraint from GBNF text or a JSON schema (as a batch line gives them). Throws Error.
std::shared_ptr<const Constraint> constraint_from(const std::string& gbnf, const nlohmann::ordered_json* schema,
                                                  const Tokenizer& tok, std::shared_ptr<const VocabTrie>& trie);

// --special: spellings of control tokens in prompts ("<|eot_id|>") become those tokens.
void add_special_option(CLI::App& app, bool& special);

// -n, the sampler settings, --seed, --stop, --ignore-eos, --logprobs: what kiln run and
// kiln batch share.
void add_generation_options(CLI::App& app, GenerationParams& gen, std::optional<uint64_t>& seed);

// Throws Error naming the first setting out of range. repeat_last_n may still be -1 (the
// whole context), which resolve_context() settles.
void validate_generation(const GenerationParams& gen);
void resolve_context(GenerationParams& gen, size_t n_ctx);

uint64_t random_seed();

// The flag that sets an engine parameter (ParamError::param): "--top-k" for top_k.
std::string flag_name(const std::string& param);

// --prompt-cache FILE (run, chat).
void add_prompt_cache_option(CLI::App& app, std::string& path);
// Loads what the file holds of the prompt into the session (logging what it used, or why it
// used none) and returns the count, for generate()'s `cached`. Nothing when path is empty.
size_t load_prompt_cache_for(const std::string& path, Session& session, std::span<const Token> prompt);
// Saves the session's rows of the prompt and generated tokens; a failure is a warning.
void save_prompt_cache_for(const std::string& path, const Session& session, std::span<const Token> prompt,
                           const std::vector<GeneratedToken>& generated);

// The generated tokens with their log-probabilities (and alternatives, when asked) as JSON.
nlohmann::json tokens_json(const Tokenizer& tok, const std::vector<GeneratedToken>& tokens);

std::string format_bytes(size_t bytes);

// Writes to standard output and flushes (a stream a reader sees as it comes). Throws Error
// when it cannot be written.
void write_stdout(std::string_view s);

void setup_logging(bool verbose, bool quiet);

}  // namespace kiln::cli
