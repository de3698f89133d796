// safetensors checkpoints: files built byte by byte from the specification
// (https://github.com/huggingface/safetensors#format), exact output bytes, round trips, every
// validation error, and atomic writes.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

// ---------------- helpers that speak the format, independently of Kiln's writer ----------------

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}

std::string bytes_of(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s += char(v);
  return s;
}

// A whole file: length field, the header as given (padded with spaces to `pad_to`), data.
std::string make_file(const std::string& header, const std::string& data, size_t pad_to = 8) {
  std::string h = header;
  while (h.size() % pad_to) h += ' ';
  return le64(h.size()) + h + data;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_test_safetensors_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static void write(const std::string& p, const std::string& content) {
    std::ofstream f(p, std::ios::binary);
    f << content;
  }
  static std::string read(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream os;
    os << f.rdbuf();
    return os.str();
  }
  // Names of the files in the test directory.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  // Loads `content` from a file and expects an error containing `parts` (and the file's path).
  void expect_load_error(const std::string& content, std::vector<std::string> parts) {
    const std::string p = path("bad.safetensors");
    write(p, content);
    parts.push_back(p);
    const std::string msg = error_message([&] { load_safetensors(p); });
    ASSERT_FALSE(msg.empty()) << "no error for a file with header "
                              << content.substr(8, std::min<size_t>(content.size(), 200));
    expect_contains(msg, parts);
  }
  fs::path dir_;
};

// The StateDict whose exact bytes the format dictates below.
StateDict known_state() {
  StateDict sd;
  sd.insert("weight", tensor({1.0, -2.5}, {2}));  // float32
  sd.insert("step", scalar_tensor(7, DType::Int64));
  sd.metadata()["format"] = "pt";
  return sd;
}

// The bytes of known_state(), written out from the specification: an 8-byte little-endian
// header length, the JSON header (metadata first, then tensors in order, each with dtype, shape
// and data_offsets), spaces up to a multiple of 8, then the little-endian data.
std::string known_bytes() {
  const std::string json = R"({"__metadata__":{"format":"pt"},)"
                           R"("weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("step":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})";
  EXPECT_EQ(json.size(), 146u);
  std::string file = bytes_of({152, 0, 0, 0, 0, 0, 0, 0});  // 146 + 6 spaces of padding
  file += json + std::string(6, ' ');
  file += bytes_of({0x00, 0x00, 0x80, 0x3f});  // 1.0f
  file += bytes_of({0x00, 0x00, 0x20, 0xc0});  // -2.5f
  file += bytes_of({7, 0, 0, 0, 0, 0, 0, 0});  // int64 7
  return file;
}

// ---------------- reading files written by hand ----------------

TEST_F(SafetensorsTest, LoadsAFileWrittenFromTheSpecification) {
  // Whitespace in the JSON, tensors stored in a different order than the header lists them,
  // an escaped name, metadata last, padding with more spaces than needed.
  const std::string header =
      "{ \"b\\u00e9ta\" : {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [12, 16]},\n"
      "  \"ints\": {\"shape\": [1, 2], \"dtype\": \"I32\", \"data_offsets\": [4, 12]},\n"
      "  \"flags\": {\"dtype\": \"BOOL\", \"shape\": [3], \"data_offsets\": [16, 19]},\n"
      "  \"bytes\": {\"dtype\": \"U8\", \"shape\": [0, 5], \"data_offsets\": [19, 19]},\n"
      "  \"half\": {\"dtype\": \"F16\", \"shape\": [], \"data_offsets\": [0, 2]},\n"
      "  \"pad\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [2, 4]},\n"
      "  \"d\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [19, 27]},\n"
      "  \"__metadata__\": {\"epoch\": \"3\", \"note\": \"a \\\"quoted\\\" line\\n\"} }";
  std::string data;
  data += bytes_of({0x00, 0x3c});                          // half 1.0
  data += bytes_of({9, 250});                              // pad: u8 9, 250
  data += bytes_of({0xff, 0xff, 0xff, 0xff, 5, 0, 0, 0});  // int32 -1, 5
  data += bytes_of({0x80, 0x3f, 0x40, 0xc0});              // bfloat16 1.0, -3.0
  data += bytes_of({1, 0, 1});                             // bool
  data += bytes_of({0, 0, 0, 0, 0, 0, 0xf8, 0x3f});        // float64 1.5
  const std::string p = path("hand.safetensors");
  write(p, make_file(header, data, 16));

  StateDict sd = load_safetensors(p);
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"b\xc3\xa9ta", "ints", "flags", "bytes", "half",
                                                 "pad", "d"}));
  EXPECT_EQ(sd.at("b\xc3\xa9ta").dtype(), DType::BFloat16);
  expect_exact_values(sd.at("b\xc3\xa9ta"), {2}, {1.0, -3.0});
  EXPECT_EQ(sd.at("ints").dtype(), DType::Int32);
  expect_exact_values(sd.at("ints"), {1, 2}, {-1, 5});
  EXPECT_EQ(sd.at("flags").dtype(), DType::Bool);
  expect_exact_values(sd.at("flags"), {3}, {1, 0, 1});
  EXPECT_EQ(sd.at("bytes").dtype(), DType::UInt8);
  EXPECT_EQ(sd.at("bytes").shape(), (Shape{0, 5}));
  EXPECT_EQ(sd.at("half").dtype(), DType::Float16);
  expect_exact_values(sd.at("half"), {}, {1.0});
  expect_exact_values(sd.at("pad"), {2}, {9, 250});
  EXPECT_EQ(sd.at("d").dtype(), DType::Float64);
  expect_exact_values(sd.at("d"), {1}, {1.5});
  EXPECT_EQ(sd.metadata().size(), 2u);
  EXPECT_EQ(sd.metadata().at("epoch"), "3");
  EXPECT_EQ(sd.metadata().at("note"), "a \"quoted\" line\n");
}

TEST_F(SafetensorsTest, LoadsTheKnownBytesAndAnEmptyFile) {
  const std::string p = path("known.safetensors");
  write(p, known_bytes());
  StateDict sd = load_safetensors(p);
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"weight", "step"}));
  EXPECT_EQ(sd.at("weight").dtype(), DType::Float32);
  expect_exact_values(sd.at("weight"), {2}, {1.0, -2.5});
  EXPECT_EQ(sd.at("step").dtype(), DType::Int64);
  expect_exact_values(sd.at("step"), {}, {7});
  EXPECT_EQ(sd.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));

  // The smallest file: no tensors (the reference writer pads "{}" to 8 bytes).
  write(p, le64(8) + "{}      ");
  EXPECT_TRUE(load_safetensors(p).empty());
  write(p, le64(2) + "{}");  // unpadded is allowed too
  EXPECT_TRUE(load_safetensors(p).empty());
}

// ---------------- writing ----------------

TEST_F(SafetensorsTest, WritesExactlyTheSpecifiedBytes) {
  EXPECT_EQ(serialize_safetensors(known_state()), known_bytes());
  const std::string p = path("out.safetensors");
  save_safetensors(p, known_state());
  EXPECT_EQ(read(p), known_bytes());
  EXPECT_EQ(listing(), (std::vector<std::string>{"out.safetensors"}));  // no temporary left

  // An empty StateDict: "{}" padded to 8 bytes.
  EXPECT_EQ(serialize_safetensors(StateDict()), le64(8) + "{}      ");
  // Names are JSON-escaped; UTF-8 passes through.
  StateDict sd;
  sd.insert("a\"b\\c\n\xc3\xa9", tensor(std::vector<int64_t>{1}, {1}, DType::UInt8));
  const std::string json = R"({"a\"b\\c\n)"
                           "\xc3\xa9"
                           R"(":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  EXPECT_EQ(serialize_safetensors(sd), make_file(json, bytes_of({1})));
}

TEST_F(SafetensorsTest, RoundTripsEveryDtypeAndShape) {
  StateDict sd;
  const std::vector<double> vals = {0.5, -1.25, 3.0, 0.0, 100.0, -7.5};
  for (DType dt : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int64,
                   DType::Int32, DType::UInt8, DType::Bool}) {
    std::vector<double> v = vals;
    if (dt == DType::UInt8) v = {0, 1, 2, 200, 255, 7};
    if (dt == DType::Int64 || dt == DType::Int32) v = {-5, 0, 2147483647, -2147483648.0, 3, 1};
    if (dt == DType::Bool) v = {1, 0, 0, 1, 1, 0};
    const std::string n = dtype_name(dt);
    sd.insert(n + ".matrix", tensor(v, {2, 3}, dt));
    sd.insert(n + ".scalar", scalar_tensor(v[0], dt));
    sd.insert(n + ".empty", zeros({0, 3}, dt));
    sd.insert(n + ".transposed", tensor(v, {2, 3}, dt).t());  // non-contiguous: saved row-major
  }
  sd.insert("big", arange(0, 100000, 1, DType::Float32).reshape({100, 1000}));
  sd.metadata()["name"] = "model \"x\"\t\xe2\x9c\x93";
  sd.metadata()["empty"] = "";

  const std::string p = path("rt.safetensors");
  save_safetensors(p, sd);
  StateDict back = load_safetensors(p);
  ASSERT_EQ(back.keys(), sd.keys());
  for (const auto& [name, t] : sd) {
    const Tensor& b = back.at(name);
    EXPECT_EQ(b.dtype(), t.dtype()) << name;
    EXPECT_EQ(b.shape(), t.shape()) << name;
    EXPECT_TRUE(b.is_contiguous()) << name;
    EXPECT_TRUE(equal(b, t)) << name;
  }
  EXPECT_EQ(back.metadata(), sd.metadata());
  // Saving what was loaded reproduces the file byte for byte.
  EXPECT_EQ(serialize_safetensors(back), read(p));
  // Tensors with history are saved by value.
  StateDict g;
  g.insert("w", ones({3}).requires_grad_(true) * 2);
  expect_exact_values(deserialize_safetensors(serialize_safetensors(g)).at("w"), {3}, {2, 2, 2});
}

TEST_F(SafetensorsTest, SaveRefusesWhatTheFormatCannotHold) {
  StateDict sd;
  sd.insert("__metadata__", ones({1}));
  EXPECT_THROW_MSG(serialize_safetensors(sd), Error, "__metadata__", "reserves");
  StateDict u;
  u.insert("w", Tensor());
  EXPECT_THROW_MSG(save_safetensors(path("u.safetensors"), u), Error, "'w'", "undefined",
                   "u.safetensors");
  EXPECT_TRUE(listing().empty());
  StateDict bad;
  bad.insert("\xff\xfe", ones({1}));
  EXPECT_THROW_MSG(serialize_safetensors(bad), Error, "UTF-8");
}

// ---------------- validation ----------------

TEST_F(SafetensorsTest, TruncatedFiles) {
  const std::string good = known_bytes();
  expect_load_error("", {"0 bytes", "shorter than the 8-byte header length"});
  expect_load_error(good.substr(0, 5), {"5 bytes", "8-byte header length"});
  expect_load_error(good.substr(0, 100), {"header length is 152", "only 92 bytes", "truncated"});
  // Cut inside the data buffer: the last tensor's offsets run past its end.
  expect_load_error(good.substr(0, good.size() - 3),
                    {"'step'", "[8, 16]", "past the end of the 13-byte data buffer"});
  expect_load_error(good + "xyz", {"3 trailing bytes"});
  EXPECT_THROW_MSG(load_safetensors(path("missing.safetensors")), Error, "cannot open",
                   "missing.safetensors", "No such file");
}

TEST_F(SafetensorsTest, CorruptedHeaders) {
  const std::string f32x1 = bytes_of({0, 0, 0x80, 0x3f});
  auto one = [&](const std::string& entry) { return make_file("{\"w\":" + entry + "}", f32x1); };
  expect_load_error(make_file("[1, 2]", ""), {"must start with '{'", "'['"});
  expect_load_error(le64(0), {"must start with '{'", "empty header"});
  expect_load_error(make_file("{\"w\": {\"dtype\": \"F32\",", f32x1),
                    {"not well-formed JSON", "invalid JSON at byte"});
  expect_load_error(make_file("{\"w\":1,}", ""), {"not well-formed JSON", "a string key"});
  expect_load_error(make_file("{\"w\":{}} trailing", ""), {"not well-formed JSON", "end of input"});
  expect_load_error(make_file("{\"w\xff\":{}}", ""), {"not valid UTF-8"});
  expect_load_error(one(R"({"dtype":"F32","shape":[1]})"), {"'w'", "no 'data_offsets' field"});
  expect_load_error(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1})"),
                    {"'w'", "unknown field 'x'"});
  expect_load_error(one(R"({"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]})"),
                    {"'w'", "field 'dtype' twice"});
  expect_load_error(one(R"([1])"), {"'w'", "an array", "expected an object"});
  expect_load_error(one(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"),
                    {"'w'", "-1", "non-negative integers"});
  expect_load_error(one(R"({"dtype":"F32","shape":[1.0],"data_offsets":[0,4]})"),
                    {"'w'", "1.0", "non-negative integers"});
  expect_load_error(one(R"({"dtype":"F32","shape":"1","data_offsets":[0,4]})"),
                    {"shape of tensor 'w'", "a string"});
  expect_load_error(make_file(R"({"__metadata__":{"k":1}})", ""),
                    {"metadata entry 'k'", "a number", "only strings"});
  expect_load_error(make_file(R"({"__metadata__":[]})", ""), {"'__metadata__'", "an array"});
  // Duplicate tensor names.
  expect_load_error(make_file(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                              R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                              bytes_of({1, 2})),
                    {"tensor 'w' appears twice", "duplicate"});
  // Booleans must be 0 or 1.
  expect_load_error(
      make_file(R"({"b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", bytes_of({1, 2})),
      {"BOOL tensor 'b'", "byte value 2", "element 1"});
}

TEST_F(SafetensorsTest, WrongDtypeString) {
  const std::string f32x1 = bytes_of({0, 0, 0x80, 0x3f});
  for (const char* bad : {"f32", "F128", "float32", ""}) {
    expect_load_error(make_file(std::string(R"({"w":{"dtype":")") + bad +
                                    R"(","shape":[1],"data_offsets":[0,4]}})",
                                f32x1),
                      {"'w'", std::string("unknown dtype '") + bad + "'", "F32"});
  }
  expect_load_error(make_file(R"({"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", f32x1),
                    {"dtype of tensor 'w'", "a number"});
}

TEST_F(SafetensorsTest, BadOffsets) {
  const std::string data8 = bytes_of({1, 2, 3, 4, 5, 6, 7, 8});
  auto two = [&](const std::string& a, const std::string& b) {
    return make_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":)" + a +
                         R"(},"b":{"dtype":"U8","shape":[4],"data_offsets":)" + b + "}}",
                     data8);
  };
  expect_load_error(two("[0,4]", "[2,6]"), {"tensor 'b'", "[2, 6]", "overlaps tensor 'a'"});
  expect_load_error(two("[0,4]", "[0,4]"), {"overlaps"});
  expect_load_error(two("[0,4]", "[5,9]"), {"'b'", "[5, 9]", "past the end of the 8-byte"});
  expect_load_error(make_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                              R"("b":{"dtype":"U8","shape":[3],"data_offsets":[5,8]}})",
                              data8),
                    {"hole", "bytes [4, 5)", "'b'"});
  expect_load_error(two("[4,0]", "[0,4]"), {"'a'", "[4, 0]", "begin after end"});
  expect_load_error(two("[0,4]", "[4,7]"), {"'b'", "shape [4]", "needs 4 bytes", "[4, 7] hold 3"});
  expect_load_error(two("[0,4]", "[4]"), {"'b'", "not a pair"});
  expect_load_error(two("[0,4]", "[4,\"8\"]"), {"'b'", "not non-negative integers"});
  expect_load_error(two("[0,4]", "[4,18446744073709551616]"), {"not non-negative integers"});
  expect_load_error(
      make_file(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                data8),
      {"'a'", "more than 2^64"});
  // A header length larger than the file, and one that leaves no room for the data.
  expect_load_error(le64(1000) + "{}", {"header length is 1000", "only 2 bytes"});
}

// ---------------- atomic writes ----------------

TEST_F(SafetensorsTest, FailedSaveIntoAMissingDirectory) {
  const std::string p = path("no/such/dir/x.safetensors");
  EXPECT_THROW_MSG(save_safetensors(p, known_state()), Error, "save_safetensors", p,
                   "No such file or directory");
  EXPECT_TRUE(listing().empty());
}

TEST_F(SafetensorsTest, FailedSaveLeavesThePreviousFileIntact) {
  const std::string p = path("ckpt.safetensors");
  save_safetensors(p, known_state());
  const std::string before = read(p);

  // A write that fails half way: the process may write at most 4 KiB per file (EFBIG beyond).
  StateDict big;
  big.insert("w", zeros({100000}));
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string msg = error_message([&] { save_safetensors(p, big); });
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  expect_contains(msg, {"save_safetensors", p, "writing", "File too large"});
  EXPECT_EQ(read(p), before);
  EXPECT_EQ(listing(), (std::vector<std::string>{"ckpt.safetensors"}));  // temporary removed

  // A successful save replaces the file.
  save_safetensors(p, big);
  EXPECT_EQ(load_safetensors(p).at("w").numel(), 100000);
  EXPECT_EQ(listing(), (std::vector<std::string>{"ckpt.safetensors"}));
}

TEST_F(SafetensorsTest, ReadOnlyDirectory) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: permissions do not stop writes";
  const std::string p = path("ckpt.safetensors");
  save_safetensors(p, known_state());
  const std::string before = read(p);
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  StateDict other;
  other.insert("x", ones({4}));
  EXPECT_THROW_MSG(save_safetensors(p, other), Error, "save_safetensors", p, "Permission denied");
  fs::permissions(dir_, fs::perms::owner_all);
  EXPECT_EQ(read(p), before);
}

// ---------------- interoperability ----------------

TEST_F(SafetensorsTest, RoundTripThroughThePythonPackage) {
  if (std::system("/usr/bin/python3 -c 'import safetensors.numpy' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "the Python package 'safetensors' is not importable by /usr/bin/python3";
  StateDict sd;
  sd.insert("w", tensor({1.5, -2.0, 3.25, 4.0, 5.0, 6.0}, {2, 3}));
  sd.insert("i", tensor(std::vector<int64_t>{-3, 9}, {2}));
  sd.insert("h", tensor({0.5, 2.0}, {2}, DType::Float16));
  sd.metadata()["who"] = "kiln";
  const std::string in = path("kiln.safetensors"), out = path("py.safetensors");
  save_safetensors(in, sd);
  const std::string script = path("check.py");
  write(script,
        "import sys\n"
        "import numpy as np\n"
        "from safetensors import safe_open\n"
        "from safetensors.numpy import load_file, save_file\n"
        "t = load_file(sys.argv[1])\n"
        "assert list(t) and sorted(t) == ['h', 'i', 'w'], list(t)\n"
        "assert t['w'].dtype == np.float32 and t['w'].shape == (2, 3)\n"
        "assert t['w'].tolist() == [[1.5, -2.0, 3.25], [4.0, 5.0, 6.0]], t['w']\n"
        "assert t['i'].dtype == np.int64 and t['i'].tolist() == [-3, 9]\n"
        "assert t['h'].dtype == np.float16 and t['h'].tolist() == [0.5, 2.0]\n"
        "with safe_open(sys.argv[1], 'np') as f:\n"
        "    assert f.metadata() == {'who': 'kiln'}, f.metadata()\n"
        "save_file({'a': np.arange(6, dtype=np.float64).reshape(3, 2),\n"
        "           'b': np.array([True, False]), 'c': np.array(7, dtype=np.int32)},\n"
        "          sys.argv[2], metadata={'from': 'python'})\n");
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " " + in + " " + out).c_str()), 0);
  StateDict back = load_safetensors(out);
  expect_exact_values(back.at("a"), {3, 2}, {0, 1, 2, 3, 4, 5});
  EXPECT_EQ(back.at("a").dtype(), DType::Float64);
  expect_exact_values(back.at("b"), {2}, {1, 0});
  EXPECT_EQ(back.at("c").dtype(), DType::Int32);
  expect_exact_values(back.at("c"), {}, {7});
  EXPECT_EQ(back.metadata().at("from"), "python");
}

}  // namespace
}  // namespace kiln::testing
