// JSON Schema to GBNF: the grammar of the JSON texts a schema accepts, for the keywords kiln
// can enforce (README, "Structured output"). Any other keyword is an error naming it and its
// path, never silently dropped.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "grammar/grammar.h"

namespace grammar {

// Throws Error ("json schema at /properties/age: ...").
std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema);

}  // namespace grammar
