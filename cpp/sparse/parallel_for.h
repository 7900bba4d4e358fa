// A small fork-join loop: run body(i, worker) for i in [0, n) on up to
// `threads` std::threads pulling chunks from a shared counter. Work items must
// be independent, so results never depend on the number of threads. The first
// exception thrown by a worker is rethrown on the calling thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace fanns::sparse {

inline std::size_t resolve_threads(std::size_t requested, std::size_t work_items) {
    std::size_t threads = requested;
    if (threads == 0) threads = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    return std::max<std::size_t>(1, std::min(threads, std::max<std::size_t>(1, work_items)));
}

template <class Body>
void parallel_for(std::size_t n, std::size_t threads, std::size_t chunk, Body&& body) {
    threads = resolve_threads(threads, (n + chunk - 1) / std::max<std::size_t>(1, chunk));
    chunk = std::max<std::size_t>(1, chunk);
    if (threads == 1) {
        for (std::size_t i = 0; i < n; ++i) body(i, std::size_t{0});
        return;
    }
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto worker = [&](std::size_t worker_id) {
        try {
            while (!failed.load(std::memory_order_relaxed)) {
                const std::size_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
                if (begin >= n) break;
                const std::size_t end = std::min(n, begin + chunk);
                for (std::size_t i = begin; i < end; ++i) body(i, worker_id);
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            failed.store(true);
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    for (std::size_t w = 1; w < threads; ++w) pool.emplace_back(worker, w);
    worker(0);
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);
}

}  // namespace fanns::sparse
