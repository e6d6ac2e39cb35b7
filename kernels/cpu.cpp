#include "kernels/cpu.h"

#include <cpuid.h>

#include <cstring>
#include <sched.h>

#include <fstream>
#include <set>
#include <string>
#include <utility>

namespace kiln {

bool amx_enable();  // kernels/matmul_amx.cpp

namespace {

enum Reg { eax, ebx, ecx, edx };

// A feature bit that __builtin_cpu_supports does not name in every compiler.
bool cpuid_bit(unsigned leaf, unsigned subleaf, Reg reg, unsigned bit) {
    unsigned r[4] = {};
    if (__get_cpuid_count(leaf, subleaf, &r[eax], &r[ebx], &r[ecx], &r[edx]) == 0) return false;
    return ((r[reg] >> bit) & 1u) != 0;
}

}  // namespace

// The features of each level, as kernels/targets.h lists them for the compiler.
bool isa_supported(Isa isa) {
    switch (isa) {
        case Isa::scalar: return true;
        case Isa::avx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   cpuid_bit(1, 0, ecx, 29) /* F16C */;
        case Isa::avx512:
            return isa_supported(Isa::avx2) && __builtin_cpu_supports("avx512f") &&
                   __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
        case Isa::amx:
            return isa_supported(Isa::avx512) && __builtin_cpu_supports("avx512vbmi") &&
                   cpuid_bit(7, 0, ecx, 8) /* GFNI */ &&
                   cpuid_bit(7, 0, edx, 24) /* AMX-TILE */ && cpuid_bit(7, 0, edx, 25) /* AMX-INT8 */ && amx_enable();
    }
    return false;
}

Isa detect_isa() {
    if (isa_supported(Isa::amx)) return Isa::amx;
    if (isa_supported(Isa::avx512)) return Isa::avx512;
    if (isa_supported(Isa::avx2)) return Isa::avx2;
    return Isa::scalar;
}

std::optional<Isa> parse_isa(std::string_view name) {
    if (name == "scalar") return Isa::scalar;
    if (name == "avx2") return Isa::avx2;
    if (name == "avx512") return Isa::avx512;
    if (name == "amx") return Isa::amx;
    return std::nullopt;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::scalar: return "scalar";
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
        case Isa::amx: return "amx";
    }
    return "?";
}

int physical_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
    // Hyper-threads of one core share (package, core id); count distinct pairs.
    std::set<std::pair<std::string, std::string>> cores;
    const int cpus = CPU_COUNT(&set);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &set)) continue;
        std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        std::ifstream pkg(dir + "physical_package_id"), core(dir + "core_id");
        std::string p, c;
        if (!(pkg >> p) || !(core >> c)) return cpus;  // no topology: count logical CPUs
        cores.emplace(p, c);
    }
    return cores.empty() ? 1 : static_cast<int>(cores.size());
}

std::string cpu_brand() {
    unsigned max = 0, b, c, d;
    if (__get_cpuid(0x80000000, &max, &b, &c, &d) == 0 || max < 0x80000004) return "";
    char brand[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
        unsigned r[4];
        __get_cpuid(0x80000002 + leaf, &r[0], &r[1], &r[2], &r[3]);
        std::memcpy(brand + 16 * leaf, r, 16);
    }
    std::string s = brand;
    s.erase(0, s.find_first_not_of(' '));
    s.erase(s.find_last_not_of(' ') + 1);
    return s;
}

}  // namespace kiln
