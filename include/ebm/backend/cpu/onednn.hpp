#pragma once
// oneDNN v3 glue for the CPU backend: one engine per process, errors mapped to ebm's types, small helpers for
// memory descriptors and optional per-primitive timing.
//
// The header compiles to nothing but the EBM_HAVE_ONEDNN macro (0) when oneDNN v3's headers are not on the
// include path (ebm::cpu links DNNL::dnnl only when cmake/ebm_onednn.cmake found it), so including it is always
// safe; code that needs oneDNN tests `#if EBM_HAVE_ONEDNN`.
#if __has_include(<oneapi/dnnl/dnnl.hpp>)
#include <oneapi/dnnl/dnnl.hpp>
#endif

#if defined(DNNL_VERSION_MAJOR) && DNNL_VERSION_MAJOR >= 3
#define EBM_HAVE_ONEDNN 1
#else
#define EBM_HAVE_ONEDNN 0
#endif

#if EBM_HAVE_ONEDNN
#include <chrono>
#include <ctime>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../../config.hpp"
#include "../../error.hpp"

namespace ebm::onednn {

using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;
using data_type = dnnl::memory::data_type;

/// The process-wide CPU engine (oneDNN engines are cheap handles; one is enough).
inline const dnnl::engine& engine() {
    static const dnnl::engine cpu_engine(dnnl::engine::kind::cpu, 0);
    return cpu_engine;
}

/// "major.minor.patch" of the oneDNN library loaded at run time.
inline std::string version() {
    const dnnl_version_t* v = dnnl::version();
    return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

/// Rethrows a oneDNN failure as ebm::runtime_error("ebm::<where>: oneDNN call failed: <what> (got status <s>)").
[[noreturn]] inline void rethrow(std::string_view where, const dnnl::error& e) {
    throw runtime_error("ebm::" + std::string(where) + ": oneDNN call failed: " + e.what() +
                        " (got status " + std::to_string(static_cast<int>(e.status)) + ")");
}

inline dnnl::memory::desc f32(const dims& shape, tag format) { return {shape, data_type::f32, format}; }

/// Size in floats of a memory descriptor (padding of blocked layouts included).
inline index floats(const dnnl::memory::desc& md) { return static_cast<index>(md.get_size() / sizeof(float)); }

/// Per-primitive wall times and process CPU times, filled when a workspace's profiling is switched on (the stream
/// is waited on after each primitive, so profiled runs are slightly slower). Keyed by a label such as
/// "conv2.backward_data". With one thread the CPU time is what the wall time would be on an idle machine.
struct profile {
    bool enabled = false;
    std::vector<std::string> labels;  // first-seen order
    std::unordered_map<std::string, double> seconds;
    std::unordered_map<std::string, double> cpu_seconds;
    std::unordered_map<std::string, long> calls;

    void clear() {
        labels.clear();
        seconds.clear();
        cpu_seconds.clear();
        calls.clear();
    }
    void add(const std::string& label, double s, double cpu) {
        if (!seconds.contains(label)) labels.push_back(label);
        seconds[label] += s;
        cpu_seconds[label] += cpu;
        calls[label] += 1;
    }
};

inline double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// Executes a primitive on the stream; with profiling on, waits and records the time under `label`.
inline void execute(const dnnl::primitive& p, dnnl::stream& s, const std::unordered_map<int, dnnl::memory>& args,
                    profile* prof, const char* label) {
    if (prof == nullptr || !prof->enabled) {
        p.execute(s, args);
        return;
    }
    const auto start = std::chrono::steady_clock::now();
    const double cpu0 = process_cpu_seconds();
    p.execute(s, args);
    s.wait();
    prof->add(label, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
              process_cpu_seconds() - cpu0);
}

}  // namespace ebm::onednn
#endif  // EBM_HAVE_ONEDNN
