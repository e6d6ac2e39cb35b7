#include "cmd/shard.h"

#include <cstdlib>
#include <vector>

#include "engine/error.h"

namespace kiln::cli {

namespace {

std::optional<size_t> number(const Environment& env, const std::string& name) {
    const std::optional<std::string> v = env(name);
    if (!v) return std::nullopt;
    size_t used = 0;
    unsigned long long x = 0;
    try {
        if (!v->empty() && (*v)[0] != '-' && (*v)[0] != '+') x = std::stoull(*v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (v->empty() || used != v->size()) throw Error(name + " is \"" + *v + "\", not a number");
    return x;
}

struct Found {
    std::string source;
    size_t k, n;
};

Found checked(Found f) {
    if (f.n == 0 || f.k >= f.n)
        throw Error("--shard auto: " + f.source + " give index " + std::to_string(f.k) + " of " + std::to_string(f.n));
    return f;
}

// A process of a parallel launch: the first launcher whose variables are set, preferring one
// that started more than one process (an sbatch script's own SLURM_PROCID=0 beside mpirun's ranks).
std::optional<Found> process_rank(const Environment& env) {
    std::optional<Found> first;
    for (const auto& [rank, size] : {std::pair{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                     std::pair{"PMI_RANK", "PMI_SIZE"}, std::pair{"SLURM_PROCID", "SLURM_NTASKS"}}) {
        const auto k = number(env, rank), n = number(env, size);
        if (!k || !n) continue;
        const Found f = checked({std::string(rank) + "/" + size, *k, *n});
        if (f.n > 1) return f;
        if (!first) first = f;
    }
    return first;
}

// A task of a job array or an indexed job, counted from 0.
std::optional<Found> array_index(const Environment& env, size_t shard_count) {
    const auto id = number(env, "SLURM_ARRAY_TASK_ID"), count = number(env, "SLURM_ARRAY_TASK_COUNT");
    if (id && count) {
        // --array=MIN-MAX[:STEP]: the IDs run from MIN by STEP.
        const size_t min = number(env, "SLURM_ARRAY_TASK_MIN").value_or(0), step = number(env, "SLURM_ARRAY_TASK_STEP").value_or(1);
        if (*id < min || step == 0 || (*id - min) % step != 0)
            throw Error("--shard auto: SLURM_ARRAY_TASK_ID " + std::to_string(*id) + " is not in an array from " +
                        std::to_string(min) + " by " + std::to_string(step) + " (use --array=MIN-MAX)");
        return checked({"SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT", (*id - min) / step, *count});
    }
    if (const auto index = number(env, "JOB_COMPLETION_INDEX")) {
        if (shard_count == 0)
            throw Error("--shard auto: JOB_COMPLETION_INDEX is set, and the count it is an index of needs --shard-count "
                        "(the Job's completions)");
        return checked({"JOB_COMPLETION_INDEX/--shard-count", *index, shard_count});
    }
    if (shard_count > 0) throw Error("--shard-count is for Kubernetes Indexed Jobs, and JOB_COMPLETION_INDEX is not set");
    return std::nullopt;
}

}  // namespace

Environment process_environment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        return v ? std::optional<std::string>(v) : std::nullopt;
    };
}

Shard parse_shard(const std::string& spec, size_t shard_count, const Environment& env) {
    if (spec != "auto" && shard_count > 0) throw Error("--shard-count goes with --shard auto");
    if (spec.empty()) return {};
    if (spec == "auto") {
        // A job array's task that itself runs several processes does its part of the array's part.
        const std::optional<Found> outer = array_index(env, shard_count), inner = process_rank(env);
        if (!outer && !inner)
            throw Error("--shard auto: none of SLURM_ARRAY_TASK_ID, SLURM_PROCID, OMPI_COMM_WORLD_RANK, PMI_RANK or "
                        "JOB_COMPLETION_INDEX is set (give --shard K/N)");
        const Found o = outer.value_or(Found{"", 0, 1}), i = inner.value_or(Found{"", 0, 1});
        return {o.k * i.n + i.k, o.n * i.n, o.source + (outer && inner ? " and " : "") + i.source};
    }
    const size_t slash = spec.find('/');
    Shard shard{0, 1, "--shard"};
    try {
        size_t used = 0;
        shard.k = std::stoul(spec.substr(0, slash), &used);
        if (used != slash) throw std::invalid_argument(spec);
        shard.n = std::stoul(spec.substr(slash + 1), &used);
        if (used != spec.size() - slash - 1) throw std::invalid_argument(spec);
    } catch (const std::exception&) {
        throw Error("--shard must be K/N (for example 0/4) or auto");
    }
    if (slash == std::string::npos || shard.n == 0 || shard.k >= shard.n)
        throw Error("--shard must be K/N with 0 <= K < N, for example 0/4");
    return shard;
}

std::string shard_path(std::string path, const Shard& shard) {
    const std::string k = std::to_string(shard.k);
    for (size_t at = path.find("{shard}"); at != std::string::npos; at = path.find("{shard}", at + k.size()))
        path.replace(at, 7, k);
    return path;
}

}  // namespace kiln::cli
