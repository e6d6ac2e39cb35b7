// kiln: run, inspect and tokenize Llama-family GGUF models on the CPU.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "engine/error.h"

int main(int argc, char** argv) {
    using namespace kiln::cli;
    CLI::App app{"kiln: Llama inference on the CPU"};
    app.require_subcommand(1);
    app.fallthrough();
    bool verbose = false, quiet = false;
    app.add_flag("-v,--verbose", verbose, "More detail on stderr");
    app.add_flag("-q,--quiet", quiet, "Only errors and warnings on stderr");
    const std::vector<Command> commands = {add_run_command(app), add_info_command(app), add_tokenize_command(app),
                                           add_perplexity_command(app), add_quantize_command(app), add_imatrix_command(app),
                                           add_bench_command(app), add_batch_command(app), add_prompt_command(app),
                                           add_chat_command(app)};

    const auto known = [&](const char* name) {
        return std::any_of(commands.begin(), commands.end(), [&](const Command& c) { return c.app->get_name() == name; });
    };
    if (argc > 1 && argv[1][0] != '-' && !known(argv[1])) {
        std::fprintf(stderr, "kiln: error: unknown command '%s' (commands: run, chat, batch, prompt, info, tokenize, perplexity, quantize, bench; see --help)\n", argv[1]);
        return 2;
    }
    std::vector<std::string> args(argv + 1, argv + argc);
    // llama.cpp's multi-letter short flags, which CLI11 does not take, spelled out.
    static const std::pair<const char*, const char*> spelled[] = {
        {"-sys", "--system-prompt"}, {"-ub", "--ubatch-size"}, {"-npp", "--npp"}, {"-ntg", "--ntg"}, {"-npl", "--npl"}, {"-pps", "--pps"}};
    for (std::string& a : args)
        for (const auto& [from, to] : spelled)
            if (a == from) a = to;
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    try {
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help
        std::fprintf(stderr, "kiln: error: %s (see --help)\n", e.what());
        return 2;
    }
    setup_logging(verbose, quiet);
    try {
        for (const Command& c : commands)
            if (c.app->parsed()) return c.run();
    } catch (const kiln::ParamError& e) {  // in the words of the command line
        std::fprintf(stderr, "kiln: error: %s %s\n", kiln::cli::flag_name(e.param).c_str(), e.rule.c_str());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kiln: error: %s\n", e.what());
        return 1;
    }
    return 2;
}
