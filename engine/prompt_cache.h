// A prompt cache (--prompt-cache): the KV rows a session computed, saved to a file, so that a
// later run whose prompt starts with the same tokens loads them instead of computing them. The
// file records the model (a fingerprint of its tensors' names, types and shapes), the cache's
// shape (element type, layers, heads) and the tokens, and ends with a checksum: a file for
// another model or cache type, or a damaged one, is not used.
#pragma once

#include <span>
#include <string>

#include "engine/session.h"

namespace kiln {

struct PromptCacheLoad {
    size_t n_tokens = 0;   // leading prompt tokens now in the session
    std::string problem;   // why the file was not used: "" when it was, or when there is none
    bool damaged = false;  // the problem is a broken file, not one made for something else
};

// Puts into session (emptied first) the longest prefix of prompt the file holds, short of the
// last prompt token (its logits are needed). A missing file is no problem.
PromptCacheLoad load_prompt_cache(const std::string& path, Session& session, std::span<const Token> prompt);

// Saves the session's rows with tokens, the first n_past() of which they are, through a
// temporary file renamed over path so that a kill never leaves half a file. Returns the
// problem ("" when saved).
std::string save_prompt_cache(const std::string& path, const Session& session, std::span<const Token> tokens);

// FNV-1a over the architecture and every tensor's name, type and shape.
uint64_t model_fingerprint(const Model& model);

}  // namespace kiln
