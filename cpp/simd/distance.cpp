// Run-time choice of the kernel table: CPUID says what the CPU can do,
// FANNS_SIMD may ask for a lower level (for tests and comparisons).
#include "simd/distance.h"

#include "simd/code_distance.h"
#include "simd/half_distance.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace fanns::simd {

const char* level_name(Level level) {
    switch (level) {
        case Level::scalar: return "scalar";
        case Level::avx2: return "avx2";
        case Level::avx512: return "avx512";
    }
    return "unknown";
}

bool parse_level(const char* text, Level* out) {
    if (text == nullptr) return false;
    for (Level l : {Level::scalar, Level::avx2, Level::avx512}) {
        if (std::strcmp(text, level_name(l)) == 0) {
            *out = l;
            return true;
        }
    }
    return false;
}

namespace {

bool cpu_has(Level level) {
    switch (level) {
        case Level::scalar: return true;
#if defined(FANNS_WITH_AVX2) && (defined(__GNUC__) || defined(__clang__))
        case Level::avx2:
            // F16C (float16 rows) came before AVX2 on every x86 CPU; checked all the same.
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   __builtin_cpu_supports("f16c");
#endif
#if defined(FANNS_WITH_AVX512) && (defined(__GNUC__) || defined(__clang__))
        case Level::avx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("fma");
#endif
        default: return false;
    }
}

Level compute_best() {
    if (cpu_has(Level::avx512)) return Level::avx512;
    if (cpu_has(Level::avx2)) return Level::avx2;
    return Level::scalar;
}

Level compute_active() {
    Level best = best_level();
    Level wanted;
    // An unknown value is ignored rather than fatal: the library must import.
    if (parse_level(std::getenv("FANNS_SIMD"), &wanted) && wanted < best) return wanted;
    return best;
}

}  // namespace

bool level_supported(Level level) { return cpu_has(level); }

Level best_level() {
    static const Level best = compute_best();
    return best;
}

Level active_level() {
    static const Level active = compute_active();
    return active;
}

const Kernels& kernels_for(Level level) {
    if (!cpu_has(level)) {
        throw std::invalid_argument(std::string("SIMD level '") + level_name(level) +
                                    "' is not supported by this CPU or build");
    }
    switch (level) {
#if defined(FANNS_WITH_AVX512)
        case Level::avx512: return avx512_kernels();
#endif
#if defined(FANNS_WITH_AVX2)
        case Level::avx2: return avx2_kernels();
#endif
        default: return scalar_kernels();
    }
}

const Kernels& active_kernels() { return kernels_for(active_level()); }

const CodeKernels& code_kernels_for(Level level) {
    kernels_for(level);  // throws if the level is not available
    switch (level) {
#if defined(FANNS_WITH_AVX512)
        case Level::avx512: return avx512_code_kernels();
#endif
#if defined(FANNS_WITH_AVX2)
        case Level::avx2: return avx2_code_kernels();
#endif
        default: return scalar_code_kernels();
    }
}

const CodeKernels& active_code_kernels() { return code_kernels_for(active_level()); }

const HalfKernels& half_kernels_for(Level level) {
    kernels_for(level);  // throws if the level is not available
    switch (level) {
#if defined(FANNS_WITH_AVX512)
        case Level::avx512: return avx512_half_kernels();
#endif
#if defined(FANNS_WITH_AVX2)
        case Level::avx2: return avx2_half_kernels();
#endif
        default: return scalar_half_kernels();
    }
}

const HalfKernels& active_half_kernels() { return half_kernels_for(active_level()); }

}  // namespace fanns::simd
