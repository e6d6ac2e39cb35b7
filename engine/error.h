// The one exception kiln throws for anything a user can get wrong: its message is a
// single line naming the problem, printed by the CLI before it exits with status 1.
#pragma once

#include <stdexcept>
#include <string>

namespace kiln {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace kiln
