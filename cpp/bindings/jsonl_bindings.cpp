// Binding of the JSON-lines column reader (jsonl_columns.h): Python hands it
// whole lines a block at a time (holding the GIL: a block is milliseconds of
// work, so Ctrl-C and progress land between blocks) and takes the columns
// out as numpy arrays at the end, without a copy.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "bindings/register.h"
#include "jsonl_columns.h"

namespace py = pybind11;

namespace fanns::bindings {
namespace {

// A vector's memory as a 1-D numpy array that owns it.
template <typename T>
py::array_t<T> take(std::vector<T>&& values) {
    auto* owned = new std::vector<T>(std::move(values));
    py::capsule free_it(owned, [](void* v) { delete static_cast<std::vector<T>*>(v); });
    return py::array_t<T>({static_cast<py::ssize_t>(owned->size())}, {static_cast<py::ssize_t>(sizeof(T))},
                          owned->data(), free_it);
}

long long feed(JsonlColumns& reader, const py::buffer& data, std::size_t limit) {
    const py::buffer_info info = data.request();
    if (info.ndim != 1 || info.itemsize != 1 || (info.shape[0] > 1 && info.strides[0] != 1)) {
        throw py::value_error("feed: data must be contiguous bytes");
    }
    return reader.feed(static_cast<const char*>(info.ptr), std::size_t(info.shape[0]), limit);
}

// Every column as a dict: name, kinds (uint8 a row), slots (int64 a row),
// list_codes (int32), n_words (its strings, taken with words()), seen (bit
// per kind). The columns' arrays leave the reader; their strings stay.
py::list finish(JsonlColumns& reader) {
    const std::size_t rows = reader.rows();
    py::list out;
    for (JsonlColumns::Column& c : reader.columns()) {
        c.kinds.resize(rows, JsonlColumns::kMissing);
        c.slots.resize(rows, 0);
        py::dict column;
        column["name"] = py::str(c.name.data(), c.name.size());
        column["seen"] = int(c.seen);
        column["n_words"] = c.words.size();
        column["kinds"] = take(std::move(c.kinds));
        column["slots"] = take(std::move(c.slots));
        column["list_codes"] = take(std::move(c.list_codes));
        out.append(std::move(column));
    }
    return out;
}

// Strings [start, stop) of column `index` by code (a slice at a time, so
// that Ctrl-C lands between slices of millions). Taking the last one frees
// the column's strings in the reader.
py::list words(JsonlColumns& reader, std::size_t index, std::size_t start, std::size_t stop) {
    if (index >= reader.columns().size()) throw py::index_error("words: no such column");
    JsonlColumns::Column& c = reader.columns()[index];
    if (start > stop || stop > c.words.size()) throw py::index_error("words: slice out of range");
    py::list out(stop - start);
    for (std::size_t i = start; i < stop; ++i) {
        // Checked UTF-8 (no surrogates) by the reader: this cannot fail.
        const std::string* word = c.words[i];
        out[i - start] = py::str(word->data(), word->size());
    }
    if (stop == c.words.size()) {
        c.words = {};
        c.codes = {};
    }
    return out;
}

}  // namespace

void register_jsonl(py::module_& m) {
    py::class_<JsonlColumns>(m, "JsonlColumns",
                             "Strict JSON-lines reader into typed columns (use fanns.datasets.read_attribute_store).")
        .def(py::init<>())
        .def("feed", &feed, py::arg("data"), py::arg("limit") = std::numeric_limits<std::size_t>::max(),
             "Read the whole lines of data; the lines read, or -1 - the index of the first line refused.")
        .def_property_readonly("rows", &JsonlColumns::rows)
        .def("finish", &finish, "The columns as dicts of arrays (their strings: words()).")
        .def("words", &words, py::arg("column"), py::arg("start"), py::arg("stop"),
             "Strings [start, stop) of a column, by code.");
}

}  // namespace fanns::bindings
