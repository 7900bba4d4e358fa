// A parallel loop over [0, count) on `threads` std::threads. Work is handed
// out in small chunks from an atomic counter; the first exception thrown by
// any worker is rethrown in the caller once all workers stop.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace fanns {

inline std::size_t resolve_threads(std::size_t requested) {
    if (requested != 0) return requested;
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : hw;
}

// Workers parallel_for(count, threads, ...) uses: per-thread scratch sized by
// this covers every `worker` index it passes.
inline std::size_t workers_for(std::size_t count, std::size_t requested) {
    return std::min(resolve_threads(requested), std::max<std::size_t>(1, count));
}

// fn(i, worker) for every i; `worker` is in [0, threads) and lets callers
// keep per-thread scratch space.
template <class Fn>
void parallel_for(std::size_t count, std::size_t threads, std::size_t chunk, Fn&& fn) {
    threads = std::min(resolve_threads(threads), std::max<std::size_t>(1, count));
    if (threads <= 1) {
        for (std::size_t i = 0; i < count; ++i) fn(i, std::size_t(0));
        return;
    }
    chunk = std::max<std::size_t>(1, chunk);
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto work = [&](std::size_t worker) {
        try {
            while (!failed.load(std::memory_order_relaxed)) {
                const std::size_t start = next.fetch_add(chunk);
                if (start >= count) break;
                const std::size_t end = std::min(count, start + chunk);
                for (std::size_t i = start; i < end; ++i) fn(i, worker);
            }
        } catch (...) {
            std::lock_guard<std::mutex> guard(error_mutex);
            if (!error) error = std::current_exception();
            failed = true;
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& th : pool) th.join();
    if (error) std::rethrow_exception(error);
}

}  // namespace fanns
