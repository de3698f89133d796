#pragma once
// Numbers and lists in StateDict metadata (strings), shared by the optimizers' and the
// schedulers' state dicts. Doubles are printed with %.17g, which reads back bit-identically.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln::io {

using Metadata = std::map<std::string, std::string>;

std::string format_double(double v);
std::string format_int(int64_t v);
std::string format_doubles(const std::vector<double>& v);  // "0.10000000000000001,0.01"
std::string format_ints(const std::vector<int64_t>& v);    // "0,1,2"

// Parsers throw kiln::ValueError naming `what` (usually the metadata key) on malformed text.
double parse_double(const std::string& what, const std::string& text);
int64_t parse_int(const std::string& what, const std::string& text);
std::vector<double> parse_doubles(const std::string& what, const std::string& text);
std::vector<int64_t> parse_ints(const std::string& what, const std::string& text);

// The value of `key`, or a kiln::ValueError "<who>: the state dict has no '<key>'".
const std::string& required(const Metadata& meta, const std::string& key, const std::string& who);

}  // namespace kiln::io
