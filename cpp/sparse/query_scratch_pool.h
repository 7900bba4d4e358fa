// Per-thread query state kept between calls, so a search of a single query
// does not pay for allocating and zeroing arrays sized by the collection.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace fanns::sparse {

template <class Scratch>
class ScratchPool {
public:
    template <class Factory>
    std::unique_ptr<Scratch> acquire(Factory&& make) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!free_.empty()) {
                auto s = std::move(free_.back());
                free_.pop_back();
                return s;
            }
        }
        return make();
    }

    void release(std::unique_ptr<Scratch> s) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (free_.size() < kKeep) free_.push_back(std::move(s));
    }

    void clear() {
        std::lock_guard<std::mutex> lock(mutex_);
        free_.clear();
    }

private:
    static constexpr std::size_t kKeep = 64;
    std::mutex mutex_;
    std::vector<std::unique_ptr<Scratch>> free_;
};

}  // namespace fanns::sparse
