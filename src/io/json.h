#pragma once
// A small JSON reader and writer for file headers (safetensors). Strict RFC 8259: UTF-8 input,
// no comments, no trailing commas, no NaN; objects keep their keys in file order, duplicates
// included, so that callers can reject them with their own message.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  std::string text;  // a string's value, or a number exactly as written
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;

  bool is_object() const { return kind == Kind::Object; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Number; }
  // The number as an unsigned 64-bit integer, when it is written as one (no sign, fraction or
  // exponent) and fits.
  std::optional<uint64_t> as_uint64() const;
};

const char* kind_name(Value::Kind kind);

// Parses `text` (one value, surrounded by optional whitespace). Throws kiln::Error with the
// byte position and what was expected.
Value parse(std::string_view text);

// `s` as a JSON string literal (quotes included); UTF-8 passes through, control characters,
// quotes and backslashes are escaped.
std::string quote(std::string_view s);

// Whether `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace kiln::json
