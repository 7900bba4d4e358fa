// One persistent pool of worker threads for every parallel loop of the
// engine, sized by the CPUs the process may use (cpu_count.h).
//
// A caller hands in a job and works on it itself as worker 0; idle pool
// threads join it as workers 1, 2, ... up to the job's limit. The caller
// then waits only for the pool threads that joined, which are running chunks
// of its own job, so a job always finishes even when every pool thread is
// busy elsewhere: many callers at once (Python threads with the GIL
// released) share the pool without deadlock. A loop started from inside a
// pool thread runs inline on that thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "cpu_count.h"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

namespace fanns {

class ThreadPool {
public:
    // The process-wide pool, created on first use (and afresh in a forked
    // child, which does not inherit the parent's threads).
    static ThreadPool& instance() {
        static std::once_flag registered;
        std::call_once(registered, [] {
#if defined(__unix__) || defined(__APPLE__)
            pthread_atfork(nullptr, nullptr, [] { current() = nullptr; });
#endif
        });
        std::lock_guard<std::mutex> guard(creation_mutex());
        ThreadPool*& pool = current();
        // Never destroyed: its threads may still wait on it at interpreter exit.
        if (pool == nullptr) pool = new ThreadPool(usable_cpus());
        return *pool;
    }

    // Workers one loop may use: the caller plus the pool's threads.
    std::size_t capacity() const { return threads_.size() + 1; }

    // Whether the calling thread is one of a pool's threads.
    static bool inside_worker() { return worker_flag(); }

    // fn(i, worker) for i in [0, count), chunk indices at a time, on at most
    // `workers` threads with worker ids in [0, workers). Rethrows the first
    // exception any of them threw, once all have stopped.
    template <class Fn>
    void run(std::size_t count, std::size_t workers, std::size_t chunk, Fn& fn) {
        Job job;
        job.count = count;
        job.chunk = std::max<std::size_t>(1, chunk);
        job.helpers = std::min(workers, capacity()) - 1;
        job.context = &fn;
        job.call = [](void* context, std::size_t i, std::size_t worker) { (*static_cast<Fn*>(context))(i, worker); };
        if (job.helpers > 0) {
            std::lock_guard<std::mutex> guard(mutex_);
            queue_.push_back(&job);
        }
        if (job.helpers > 0) wake_.notify_all();
        work(job, 0);
        if (job.helpers > 0) {
            std::unique_lock<std::mutex> lock(mutex_);
            const auto queued = std::find(queue_.begin(), queue_.end(), &job);
            if (queued != queue_.end()) queue_.erase(queued);
            job.done.wait(lock, [&] { return job.finished == job.joined; });
        }
        if (job.error) std::rethrow_exception(job.error);
    }

private:
    struct Job {
        std::size_t count = 0, chunk = 1, helpers = 0;
        void* context = nullptr;
        void (*call)(void*, std::size_t, std::size_t) = nullptr;
        std::atomic<std::size_t> next{0};
        std::atomic<bool> failed{false};
        std::mutex error_mutex;
        std::exception_ptr error;
        std::size_t joined = 0, finished = 0;  // guarded by the pool's mutex
        std::condition_variable done;
    };

    explicit ThreadPool(std::size_t cpus) {
        threads_.reserve(cpus > 1 ? cpus - 1 : 0);
        for (std::size_t t = 1; t < cpus; ++t) threads_.emplace_back([this] { serve(); });
        for (auto& t : threads_) t.detach();
    }

    static ThreadPool*& current() {
        static ThreadPool* pool = nullptr;
        return pool;
    }
    static std::mutex& creation_mutex() {
        static std::mutex m;
        return m;
    }
    static bool& worker_flag() {
        thread_local bool flag = false;
        return flag;
    }

    static void work(Job& job, std::size_t worker) {
        try {
            while (!job.failed.load(std::memory_order_relaxed)) {
                const std::size_t start = job.next.fetch_add(job.chunk);
                if (start >= job.count) break;
                const std::size_t end = std::min(job.count, start + job.chunk);
                for (std::size_t i = start; i < end; ++i) job.call(job.context, i, worker);
            }
        } catch (...) {
            std::lock_guard<std::mutex> guard(job.error_mutex);
            if (!job.error) job.error = std::current_exception();
            job.failed = true;
        }
    }

    void serve() {
        worker_flag() = true;
        std::unique_lock<std::mutex> lock(mutex_);
        while (true) {
            wake_.wait(lock, [&] { return !queue_.empty(); });
            Job* job = queue_.front();
            const std::size_t worker = ++job->joined;
            if (job->joined == job->helpers) queue_.pop_front();
            lock.unlock();
            work(*job, worker);
            lock.lock();
            // Notified under the lock: the caller cannot return (and destroy
            // the job) before this thread lets go of the mutex.
            if (++job->finished == job->joined) job->done.notify_all();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job*> queue_;
    std::vector<std::thread> threads_;
};

}  // namespace fanns
