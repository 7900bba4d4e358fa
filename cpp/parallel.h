// A parallel loop over [0, count) on the engine's persistent thread pool
// (thread_pool.h). Work is handed out in small chunks from an atomic counter;
// the first exception thrown by any worker is rethrown in the caller once
// all workers stop.
#pragma once

#include <algorithm>
#include <cstddef>

#include "thread_pool.h"

namespace fanns {

// Threads a loop asked for `requested` threads (0: all) runs on: at most the
// CPUs the process may use.
inline std::size_t resolve_threads(std::size_t requested) {
    const std::size_t cpus = usable_cpus();
    return requested == 0 ? cpus : std::min(requested, cpus);
}

// Workers parallel_for(count, threads, ...) uses: per-thread scratch sized by
// this covers every `worker` index it passes.
inline std::size_t workers_for(std::size_t count, std::size_t requested) {
    return std::min(resolve_threads(requested), std::max<std::size_t>(1, count));
}

// fn(i, worker) for every i; `worker` is in [0, workers_for(count, threads))
// and lets callers keep per-thread scratch space. Runs inline when called
// from a pool thread (a nested loop) or when one worker suffices.
template <class Fn>
void parallel_for(std::size_t count, std::size_t threads, std::size_t chunk, Fn&& fn) {
    const std::size_t workers = workers_for(count, threads);
    if (workers <= 1 || ThreadPool::inside_worker()) {
        for (std::size_t i = 0; i < count; ++i) fn(i, std::size_t(0));
        return;
    }
    ThreadPool::instance().run(count, workers, chunk, fn);
}

}  // namespace fanns
