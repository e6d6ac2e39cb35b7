// kiln tokenize: the token ids (and pieces) of a text.
#include <cstdio>
#include <memory>

#include "cmd/commands.h"
#include "cmd/options.h"

namespace kiln::cli {

namespace {

struct TokenizeArgs {
    ModelArgs model;
    PromptArgs prompt;
    bool pieces = false;
    bool no_bos = false;
    bool special = false;
};

int tokenize(const TokenizeArgs& a) {
    // Only the vocabulary: a vocabulary-only GGUF serves as well as a model.
    const auto tokenizer = open_tokenizer(a.model.path, a.model.tokenizer);
    const Tokenizer& tok = *tokenizer;
    const std::vector<Token> ids = tok.encode(read_prompt(a.prompt), tok.add_bos() && !a.no_bos, a.special);
    if (a.pieces) {
        for (Token id : ids) std::printf("%d\t%s\n", id, tok.token_piece(id).c_str());
        return 0;
    }
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
    return 0;
}

}  // namespace

Command add_tokenize_command(CLI::App& parent) {
    auto a = std::make_shared<TokenizeArgs>();
    CLI::App* app = parent.add_subcommand("tokenize", "Print the token ids of a text");
    add_model_options(*app, a->model);
    add_prompt_options(*app, a->prompt);
    app->add_flag("--pieces", a->pieces, "One token per line: id, tab, piece");
    app->add_flag("--no-bos", a->no_bos, "Do not add the beginning-of-text token");
    add_special_option(*app, a->special);
    return {app, [a] { return tokenize(*a); }};
}

}  // namespace kiln::cli
