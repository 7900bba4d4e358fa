// A strict reader of JSON-lines attribute files straight into columns: one
// JSON object a line, each key a column, each value kept as a kind (missing,
// bool, int, float, string, list of strings) and an 8-byte slot, with no
// object per value. Strings of a column (alone or in lists) get codes in
// the column's own vocabulary, in order of first sight.
//
// It reads a subset of JSON exactly as Python's json module reads it: a line
// outside that subset is not guessed at but refused ("deferred"), and the
// caller reads the file another way, which reports the error or gives the
// values. Deferred: anything malformed (a truncated line, two values on one
// line, a record split over lines, bad escapes, control characters, invalid
// UTF-8), and well-formed values outside the kinds above: nested objects,
// arrays holding anything but strings, integers beyond int64, numbers that
// overflow or underflow a double, NaN / Infinity, lone surrogates (\ud800),
// a key twice in one record, a lone carriage return, a line after a blank
// line. Nothing here recurses, so deep nesting costs nothing.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fanns {

class JsonlColumns {
public:
    enum Kind : std::uint8_t { kMissing = 0, kBool = 1, kInt = 2, kFloat = 3, kString = 4, kList = 5 };

    struct Column {
        std::string name;
        std::vector<std::uint8_t> kinds;  // a Kind per row
        std::vector<std::int64_t> slots;  // int or bool value, double bits, string code, list length
        std::vector<std::int32_t> list_codes;  // the strings of every list, row after row
        std::unordered_map<std::string, std::int32_t> codes;
        std::vector<const std::string*> words;  // by code
        std::uint8_t seen = 0;  // bit per Kind present
        std::size_t last_row = SIZE_MAX;
    };

    // Reads the whole lines of `data` (the last may lack its newline only
    // at the end of the file), up to `limit` records in all. Returns the
    // number of lines read, or -1 - (the line's index in `data`) at the
    // first line deferred: that line and the rest are then not read, and
    // the columns stop at the line before it.
    long long feed(const char* data, std::size_t size, std::size_t limit) {
        const char* p = data;
        const char* end = data + size;
        long long lines = 0;
        while (p < end && rows_ < limit) {
            const char* eol = static_cast<const char*>(std::memchr(p, '\n', std::size_t(end - p)));
            const char* line_end = eol ? eol : end;
            if (line_end > p && line_end[-1] == '\r') --line_end;  // \r\n, as Python's text mode reads it
            if (!line(p, line_end)) return -1 - lines;
            ++lines;
            p = eol ? eol + 1 : end;
        }
        return lines;
    }

    std::size_t rows() const { return rows_; }
    std::vector<Column>& columns() { return columns_; }

private:
    std::vector<Column> columns_;
    std::unordered_map<std::string, std::size_t> by_name_;
    std::size_t rows_ = 0;
    bool blank_seen_ = false;
    std::string scratch_;
    std::vector<std::int32_t> list_scratch_;

    static bool space(char c) { return c == ' ' || c == '\t'; }

    // One line, "{...}" with blanks around; false: deferred (nothing kept).
    bool line(const char* p, const char* end) {
        if (std::memchr(p, '\r', std::size_t(end - p))) return false;  // a line break to Python
        while (p < end && space(*p)) ++p;
        if (p == end) {
            blank_seen_ = true;
            return true;
        }
        if (blank_seen_ || *p != '{') return false;
        ++p;
        // The record is parsed into `pending` first: a deferred line keeps nothing.
        pending_.clear();
        skip(p, end);
        if (p < end && *p == '}') {
            ++p;
        } else {
            for (;;) {
                if (p >= end || *p != '"') return false;
                if (!string(p, end, scratch_)) return false;
                std::size_t column = column_of(scratch_);
                if (columns_[column].last_row == rows_) return false;  // a key twice
                columns_[column].last_row = rows_;
                skip(p, end);
                if (p >= end || *p != ':') return false;
                ++p;
                skip(p, end);
                if (!value(p, end, column)) return false;
                skip(p, end);
                if (p < end && *p == ',') {
                    ++p;
                    skip(p, end);
                    continue;
                }
                if (p < end && *p == '}') {
                    ++p;
                    break;
                }
                return false;
            }
        }
        skip(p, end);
        if (p != end) return false;
        commit();
        return true;
    }

    struct Pending {
        std::size_t column;
        Kind kind;
        std::int64_t slot;
        std::size_t list_begin, list_end;  // in list_scratch_ (words as codes not yet given)
    };
    std::vector<Pending> pending_;
    std::vector<std::string> pending_words_;  // strings of this record, coded at commit

    static void skip(const char*& p, const char* end) {
        while (p < end && (*p == ' ' || *p == '\t')) ++p;
    }

    std::size_t column_of(const std::string& name) {
        auto found = by_name_.find(name);
        if (found != by_name_.end()) return found->second;
        // A new column: missing in every earlier row. (Kept even if this
        // line is deferred: it then has no value, and the caller reads the
        // file another way.)
        Column c;
        c.name = name;
        c.kinds.assign(rows_, kMissing);
        c.slots.assign(rows_, 0);
        columns_.push_back(std::move(c));
        by_name_.emplace(name, columns_.size() - 1);
        return columns_.size() - 1;
    }

    bool literal(const char*& p, const char* end, const char* word) {
        const std::size_t n = std::strlen(word);
        if (std::size_t(end - p) < n || std::memcmp(p, word, n) != 0) return false;
        p += n;
        return true;
    }

    bool value(const char*& p, const char* end, std::size_t column) {
        Pending v{column, kMissing, 0, 0, 0};
        if (p >= end) return false;  // a key with no value: {"a":
        const char c = *p;
        if (c == '"') {
            pending_words_.emplace_back();
            if (!string(p, end, pending_words_.back())) return false;
            v.kind = kString;
            v.list_begin = pending_words_.size() - 1;
        } else if (c == 't' || c == 'f' || c == 'n') {
            if (literal(p, end, "true")) v = {column, kBool, 1, 0, 0};
            else if (literal(p, end, "false")) v = {column, kBool, 0, 0, 0};
            else if (!literal(p, end, "null")) return false;
        } else if (c == '[') {
            ++p;
            skip(p, end);
            v.kind = kList;
            v.list_begin = pending_words_.size();
            if (p < end && *p == ']') {
                ++p;
            } else {
                for (;;) {
                    if (p >= end || *p != '"') return false;  // only strings in lists
                    pending_words_.emplace_back();
                    if (!string(p, end, pending_words_.back())) return false;
                    skip(p, end);
                    if (p < end && *p == ',') {
                        ++p;
                        skip(p, end);
                        continue;
                    }
                    if (p < end && *p == ']') {
                        ++p;
                        break;
                    }
                    return false;
                }
            }
            v.list_end = pending_words_.size();
            v.slot = std::int64_t(v.list_end - v.list_begin);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if (!number(p, end, v)) return false;
        } else {
            return false;  // objects, NaN, Infinity, anything else
        }
        pending_.push_back(v);
        return true;
    }

    // A JSON number as Python reads it: an int without fraction or exponent.
    static bool number(const char*& p, const char* end, Pending& v) {
        const char* start = p;
        if (p < end && *p == '-') ++p;
        if (p >= end) return false;
        if (*p == '0') {
            ++p;
        } else if (*p >= '1' && *p <= '9') {
            while (p < end && *p >= '0' && *p <= '9') ++p;
        } else {
            return false;
        }
        bool integral = true;
        if (p < end && *p == '.') {
            ++p;
            const char* digits = p;
            while (p < end && *p >= '0' && *p <= '9') ++p;
            if (p == digits) return false;
            integral = false;
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
            ++p;
            if (p < end && (*p == '+' || *p == '-')) ++p;
            const char* digits = p;
            while (p < end && *p >= '0' && *p <= '9') ++p;
            if (p == digits) return false;
            integral = false;
        }
        if (integral) {
            std::int64_t x = 0;
            auto r = std::from_chars(start, p, x);
            if (r.ec != std::errc() || r.ptr != p) return false;  // beyond int64
            v.kind = kInt;
            v.slot = x;
            return true;
        }
        double x = 0;
        auto r = std::from_chars(start, p, x);
        if (r.ec != std::errc() || r.ptr != p) return false;  // overflow / underflow: Python's inf / 0.0
        v.kind = kFloat;
        std::memcpy(&v.slot, &x, sizeof x);
        return true;
    }

    static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    static bool hex4(const char*& p, const char* end, unsigned& out) {
        if (end - p < 4) return false;
        out = 0;
        for (int i = 0; i < 4; ++i) {
            const int h = hex(p[i]);
            if (h < 0) return false;
            out = out * 16 + unsigned(h);
        }
        p += 4;
        return true;
    }

    static void put_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        }
    }

    // Length of the valid UTF-8 sequence at p (2 to 4 bytes; no surrogates,
    // no overlong forms, at most U+10FFFF), or 0.
    static std::size_t utf8_length(const unsigned char* p, const unsigned char* end) {
        const unsigned c = p[0];
        auto cont = [&](std::size_t i) { return p + i < end && (p[i] & 0xC0) == 0x80; };
        if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
        if (c >= 0xE0 && c <= 0xEF) {
            if (!cont(1) || !cont(2)) return 0;
            if (c == 0xE0 && p[1] < 0xA0) return 0;   // overlong
            if (c == 0xED && p[1] >= 0xA0) return 0;  // surrogate
            return 3;
        }
        if (c >= 0xF0 && c <= 0xF4) {
            if (!cont(1) || !cont(2) || !cont(3)) return 0;
            if (c == 0xF0 && p[1] < 0x90) return 0;
            if (c == 0xF4 && p[1] >= 0x90) return 0;
            return 4;
        }
        return 0;
    }

    // A JSON string at p (which is '"') into `out` as UTF-8.
    static bool string(const char*& p, const char* end, std::string& out) {
        out.clear();
        ++p;
        for (;;) {
            const char* run = p;
            while (p < end) {
                const unsigned char c = static_cast<unsigned char>(*p);
                if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
                ++p;
            }
            out.append(run, p);
            if (p >= end) return false;  // unterminated on this line
            const unsigned char c = static_cast<unsigned char>(*p);
            if (c == '"') {
                ++p;
                return true;
            }
            if (c < 0x20) return false;  // control characters must be escaped
            if (c >= 0x80) {
                const std::size_t n = utf8_length(reinterpret_cast<const unsigned char*>(p),
                                                  reinterpret_cast<const unsigned char*>(end));
                if (n == 0) return false;
                out.append(p, n);
                p += n;
                continue;
            }
            // an escape
            if (end - p < 2) return false;
            const char e = p[1];
            p += 2;
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned cp;
                    if (!hex4(p, end, cp)) return false;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a lone low surrogate
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        unsigned low;
                        if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return false;  // lone high
                        p += 2;
                        if (!hex4(p, end, low) || low < 0xDC00 || low > 0xDFFF) return false;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: return false;
            }
        }
    }

    // The record parsed without a fault: its values go into their columns.
    void commit() {
        for (const Pending& v : pending_) {
            Column& c = columns_[v.column];
            c.kinds.resize(rows_, kMissing);
            c.slots.resize(rows_, 0);
            std::int64_t slot = v.slot;
            if (v.kind == kString) {
                slot = code(c, pending_words_[v.list_begin]);
            } else if (v.kind == kList) {
                for (std::size_t i = v.list_begin; i < v.list_end; ++i) c.list_codes.push_back(code(c, pending_words_[i]));
            }
            c.kinds.push_back(v.kind);
            c.slots.push_back(v.kind == kMissing ? 0 : slot);
            c.seen |= std::uint8_t(1u << v.kind);
        }
        pending_.clear();
        pending_words_.clear();
        ++rows_;
    }

    static std::int32_t code(Column& c, std::string& word) {
        auto found = c.codes.find(word);
        if (found != c.codes.end()) return found->second;
        // Codes are int32: a column with more distinct strings is refused, never wrapped.
        if (c.words.size() >= std::size_t(std::numeric_limits<std::int32_t>::max())) {
            throw std::length_error("an attribute column holds more than 2^31 - 1 distinct strings");
        }
        const auto next = static_cast<std::int32_t>(c.words.size());
        auto placed = c.codes.emplace(std::move(word), next).first;
        c.words.push_back(&placed->first);
        return next;
    }
};

}  // namespace fanns
