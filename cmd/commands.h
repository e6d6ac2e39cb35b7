// The subcommands: each adds its options to the CLI and returns the function that runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace kiln::cli {

struct Command {
    CLI::App* app;
    std::function<int()> run;  // returns the exit status; throws Error
};

Command add_run_command(CLI::App& parent);
Command add_info_command(CLI::App& parent);
Command add_tokenize_command(CLI::App& parent);
Command add_perplexity_command(CLI::App& parent);
Command add_quantize_command(CLI::App& parent);
Command add_imatrix_command(CLI::App& parent);
Command add_bench_command(CLI::App& parent);
Command add_batch_command(CLI::App& parent);
Command add_prompt_command(CLI::App& parent);
Command add_chat_command(CLI::App& parent);

}  // namespace kiln::cli
