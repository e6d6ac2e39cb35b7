// A Jinja template as Hugging Face renders chat templates: jinja2's language in its sandbox
// (no file or process access, no mutation of lists and dicts), with trim_blocks and
// lstrip_blocks, the loop controls, {% generation %}, and the globals raise_exception() and
// strftime_now(). Written for kiln, checked against python3-jinja2.
//
// Rendering is bounded: a template that loops, recurses or grows its output past the limits
// stops with an Error, so a hostile template in a downloaded file ends in a one-line message.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "jinja/value.h"

namespace jinja {

struct RenderOptions {
    std::tm now{};                       // what strftime_now() formats
    size_t max_steps = 1'000'000;        // expressions and statements evaluated (and range() items)
    size_t max_output = 16u << 20;       // bytes of output, and of any string built
    int max_calls = 100;                 // macro calls nested
};

class Template {
public:
    // Throws Error (with the line) when the source does not parse.
    explicit Template(std::string_view source);
    ~Template();
    Template(Template&&) noexcept;
    Template& operator=(Template&&) noexcept;

    // Renders with the variables of an object; throws Raised for raise_exception() and Error
    // for anything else that goes wrong (an undefined value used, a limit reached).
    std::string render(const nlohmann::ordered_json& variables, const RenderOptions& options) const;

private:
    struct Parsed;
    std::unique_ptr<Parsed> parsed_;
};

}  // namespace jinja
