// Which part of a batch this process does: --shard K/N, or --shard auto, which reads the
// index and count from the environment of the scheduler that started it (Slurm job arrays and
// tasks, MPI launchers, Kubernetes Indexed Jobs).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

namespace kiln::cli {

struct Shard {
    size_t k = 0, n = 1;
    std::string source;  // where k and n came from, for the log ("" for the default)
};

// The environment, one variable at a time (std::getenv's, or a test's).
using Environment = std::function<std::optional<std::string>(const std::string& name)>;
Environment process_environment();

// spec: "" (the whole batch), "K/N", or "auto". shard_count: --shard-count (0: none), which
// Kubernetes needs (an Indexed Job says its index, not its completions). Throws Error naming
// the flag or the variable at fault.
Shard parse_shard(const std::string& spec, size_t shard_count, const Environment& env);

// path with every "{shard}" replaced by the shard index.
std::string shard_path(std::string path, const Shard& shard);

}  // namespace kiln::cli
