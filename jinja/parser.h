// Tokens to the statement tree (jinja/ast.h): jinja2's grammar and operator precedence.
#pragma once

#include <vector>

#include "jinja/ast.h"
#include "jinja/lexer.h"

namespace jinja {

// Throws Error naming the line and what was expected.
Body parse(const std::vector<Token>& tokens);

}  // namespace jinja
