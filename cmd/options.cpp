#include "cmd/options.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "engine/error.h"
#include "kernels/cpu.h"

namespace kiln::cli {

void add_model_options(CLI::App& app, ModelArgs& args) {
    app.add_option("-m,--model", args.path, "GGUF model file")->required();
    app.add_option("--tokenizer", args.tokenizer, "SentencePiece tokenizer.model to use instead of the GGUF vocabulary");
    app.add_flag("--no-mmap", args.no_mmap,
                 "Copy the weights into huge-page memory instead of mapping the file (faster generation, a copy's memory)");
}

std::unique_ptr<const Model> open_model(const ModelArgs& args) {
    ModelOptions options;
    options.tokenizer_path = args.tokenizer;
    options.copy_weights = args.no_mmap;
    options.isa = detect_isa();
    if (const char* forced = std::getenv("KILN_ISA"); forced != nullptr && *forced != '\0') {
        const auto isa = parse_isa(forced);
        if (!isa) throw Error(std::string("KILN_ISA=") + forced + " is not one of scalar, avx2, avx512");
        if (!isa_supported(*isa)) throw Error(std::string("KILN_ISA=") + forced + ": this CPU does not support it");
        options.isa = *isa;
    }
    spdlog::debug("kernels: {}", isa_name(options.isa));
    return Model::load(args.path, options);
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

size_t context_size(const Model& model, long requested) {
    if (requested < 0) throw Error("-c/--ctx-size must be positive (0 = the model's trained context, at most 4096)");
    if (requested == 0) return std::min<size_t>(4096, model.config().n_ctx_train);
    return static_cast<size_t>(requested);
}

std::string format_bytes(size_t bytes) {
    char buf[32];
    if (bytes >= (size_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
    else if (bytes >= (size_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / 1048576.0);
    else if (bytes >= 1024) std::snprintf(buf, sizeof buf, "%.2f KiB", bytes / 1024.0);
    else std::snprintf(buf, sizeof buf, "%zu B", bytes);
    return buf;
}

void setup_logging(bool verbose, bool quiet) {
    auto logger = spdlog::stderr_color_mt("kiln");
    logger->set_pattern("%^kiln: %v%$");
    logger->set_level(quiet ? spdlog::level::warn : verbose ? spdlog::level::debug : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace kiln::cli
