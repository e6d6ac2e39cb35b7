// What the subcommands share: the model options, opening the model, reading a prompt.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "engine/model.h"

namespace kiln::cli {

struct ModelArgs {
    std::string path;
    std::string tokenizer;
    bool no_mmap = false;
};

// -m/--model (required) and --tokenizer.
void add_model_options(CLI::App& app, ModelArgs& args);

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

// -c: 0 means min(4096, the model's trained context).
size_t context_size(const Model& model, long requested);

std::string format_bytes(size_t bytes);

void setup_logging(bool verbose, bool quiet);

}  // namespace kiln::cli
