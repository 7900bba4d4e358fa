// The number of CPUs this process may actually use: the CPUs in its affinity
// mask, further limited by a cgroup CPU quota (v2 cpu.max, v1
// cpu.cfs_quota_us / cpu.cfs_period_us) on its cgroup or any ancestor. A
// container given 2 CPUs on a 64-core host gets 2, not 64.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

namespace fanns {
namespace cpu_detail {

inline std::size_t affinity_cpus() {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        const int count = CPU_COUNT(&set);
        if (count > 0) return static_cast<std::size_t>(count);
    }
#endif
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : hw;
}

// CPUs granted by the quota files in `dir`, or 0 when there is no quota there.
inline double quota_in(const std::string& dir, bool v2) {
    double quota = -1, period = 0;
    if (v2) {
        std::ifstream in(dir + "/cpu.max");
        std::string q;
        if (!(in >> q >> period) || q == "max") return 0;
        std::istringstream(q) >> quota;
    } else {
        std::ifstream q(dir + "/cpu.cfs_quota_us"), p(dir + "/cpu.cfs_period_us");
        if (!(q >> quota) || !(p >> period)) return 0;
    }
    return quota > 0 && period > 0 ? quota / period : 0;
}

// Smallest quota on the cgroup `path` under `mount` and on its ancestors.
inline double smallest_quota(const std::string& mount, std::string path, bool v2) {
    double best = 0;
    while (true) {
        const double q = quota_in(mount + path, v2);
        if (q > 0 && (best == 0 || q < best)) best = q;
        if (path.empty() || path == "/") break;
        const std::size_t slash = path.find_last_of('/');
        path = slash == std::string::npos ? std::string() : path.substr(0, slash);
    }
    return best;
}

// CPUs allowed by cgroup quotas (0: no quota found).
inline double quota_cpus() {
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    double best = 0;
    while (std::getline(in, line)) {
        // "id:controllers:path"; v2 has empty controllers.
        const std::size_t a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        std::vector<std::string> mounts;
        bool v2 = controllers.empty();
        if (v2) {
            mounts = {"/sys/fs/cgroup"};
        } else {
            std::istringstream names(controllers);
            std::string name;
            bool has_cpu = false;
            while (std::getline(names, name, ',')) has_cpu = has_cpu || name == "cpu";
            if (!has_cpu) continue;
            mounts = {"/sys/fs/cgroup/" + controllers, "/sys/fs/cgroup/cpu"};
        }
        for (const std::string& mount : mounts) {
            const double q = smallest_quota(mount, path, v2);
            if (q > 0 && (best == 0 || q < best)) best = q;
        }
    }
    return best;
}

}  // namespace cpu_detail

// Computed once per process.
inline std::size_t usable_cpus() {
    static const std::size_t cpus = [] {
        std::size_t count = cpu_detail::affinity_cpus();
        const double quota = cpu_detail::quota_cpus();
        if (quota > 0) count = std::min(count, static_cast<std::size_t>(std::ceil(quota)));
        return std::max<std::size_t>(1, count);
    }();
    return cpus;
}

}  // namespace fanns
