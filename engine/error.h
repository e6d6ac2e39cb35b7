// The one exception kiln throws for anything a user can get wrong: its message is a
// single line naming the problem, printed by the CLI before it exits with status 1.
#pragma once

#include <stdexcept>
#include <string>

namespace kiln {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// An Error about one parameter, named as the engine names it ("temp", "top_k", "n_parallel"),
// so that the CLI can say it in its caller's words: the flag (--temp), or a batch line's field.
struct ParamError : Error {
    ParamError(const std::string& param, const std::string& rule) : Error(param + " " + rule), param(param), rule(rule) {}
    std::string param, rule;  // "must be 0 or more"
};

}  // namespace kiln
