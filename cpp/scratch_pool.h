// The one pool of per-search scratch objects (visited tables, sparse query
// state): a search borrows one instead of allocating and zeroing arrays
// sized by the collection, and gives it back when done.
//
// At most `keep` objects wait idle between searches (by default the number
// of CPUs the process may use, which bounds what its own parallel loops
// hold at once); objects returned beyond that are freed, so a burst of
// concurrent searches does not pin its peak memory for the index's life.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "cpu_count.h"

namespace fanns {

template <class T>
class ScratchPool {
public:
    explicit ScratchPool(std::size_t keep = usable_cpus()) : keep_(keep) {}

    // Gives back its object when it goes out of scope.
    class Lease {
    public:
        Lease(ScratchPool* pool, std::unique_ptr<T> object) : pool_(pool), object_(std::move(object)) {}
        Lease(Lease&&) = default;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        ~Lease() {
            if (object_) pool_->release(std::move(object_));
        }
        T& operator*() { return *object_; }
        T* operator->() { return object_.get(); }

    private:
        ScratchPool* pool_;
        std::unique_ptr<T> object_;
    };

    // An idle object, or make() when none waits.
    template <class Factory>
    std::unique_ptr<T> acquire(Factory&& make) {
        {
            std::lock_guard<std::mutex> guard(mutex_);
            if (!idle_.empty()) {
                std::unique_ptr<T> object = std::move(idle_.back());
                idle_.pop_back();
                return object;
            }
        }
        return make();
    }

    template <class Factory>
    Lease lease(Factory&& make) {
        return Lease(this, acquire(std::forward<Factory>(make)));
    }

    void release(std::unique_ptr<T> object) {
        std::lock_guard<std::mutex> guard(mutex_);
        if (idle_.size() < keep_) idle_.push_back(std::move(object));
        // else: freed here, on return
    }

    std::size_t idle() const {
        std::lock_guard<std::mutex> guard(mutex_);
        return idle_.size();
    }

    // Sum of bytes(object) over the idle objects.
    template <class Bytes>
    std::size_t idle_bytes(Bytes&& bytes) const {
        std::lock_guard<std::mutex> guard(mutex_);
        std::size_t total = 0;
        for (const auto& object : idle_) total += bytes(*object);
        return total;
    }

    void clear() {
        std::lock_guard<std::mutex> guard(mutex_);
        idle_.clear();
    }

private:
    std::size_t keep_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<T>> idle_;
};

}  // namespace fanns
