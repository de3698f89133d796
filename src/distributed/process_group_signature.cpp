// Checked mode's signatures and their comparison (see process_group_signature.h).
#include "distributed/process_group_signature.h"

#include "distributed/process_group_internal.h"

namespace kiln::distributed::detail {

const char* collective_name(Collective c) {
  switch (c) {
    case Collective::AllReduce:
      return "all_reduce";
    case Collective::Broadcast:
      return "broadcast";
    case Collective::AllGather:
      return "all_gather";
    case Collective::ReduceScatter:
      return "reduce_scatter";
    case Collective::Barrier:
      return "barrier";
  }
  return "?";
}

Signature signature_of(Collective c, const Tensor& main, const std::vector<Tensor>& per_rank,
                       int64_t op, int64_t root) {
  Signature s;
  s.collective = c;
  s.op = op;
  s.root = root;
  if (main.defined()) {
    s.dtype = int64_t(main.dtype());
    s.shapes.push_back(main.shape());
    for (const Tensor& t : per_rank) s.shapes.push_back(t.shape());
  }
  return s;
}

std::vector<int64_t> encode(const Signature& s) {
  std::vector<int64_t> out = {int64_t(s.collective), s.op, s.root, s.dtype,
                              int64_t(s.shapes.size())};
  for (const Shape& shape : s.shapes) {
    out.push_back(int64_t(shape.size()));
    out.insert(out.end(), shape.begin(), shape.end());
  }
  return out;
}

Signature decode(const int64_t* data, size_t length) {
  auto need = [&](size_t at) {
    KILN_CHECK(at < length, "kiln.distributed: malformed checked-mode signature (", length,
               " values)");
  };
  size_t at = 0;
  need(4);
  Signature s;
  s.collective = Collective(data[0]);
  s.op = data[1];
  s.root = data[2];
  s.dtype = data[3];
  const int64_t count = data[4];
  at = 5;
  for (int64_t i = 0; i < count; ++i) {
    need(at);
    const int64_t ndim = data[at++];
    KILN_CHECK(ndim >= 0 && size_t(ndim) <= length - at,
               "kiln.distributed: malformed checked-mode signature (", length, " values)");
    s.shapes.emplace_back(data + at, data + at + ndim);
    at += size_t(ndim);
  }
  return s;
}

namespace {

std::string tensor_text(int64_t dtype, const Shape& shape) {
  return std::string(dtype_name(DType(dtype))) + " " + shape_str(shape);
}

std::string main_text(const Signature& s) {
  if (s.shapes.empty()) return "no tensor";
  return tensor_text(s.dtype, s.shapes[0]);
}

std::string rank_text(size_t r) { return "rank " + std::to_string(r); }

}  // namespace

std::optional<std::string> find_mismatch(const std::vector<Signature>& ranks) {
  if (ranks.empty()) return std::nullopt;
  const Signature& first = ranks[0];
  const std::string name = collective_name(first.collective);
  // Which collective each rank called, then the arguments every rank must agree on.
  for (size_t r = 1; r < ranks.size(); ++r) {
    if (ranks[r].collective != first.collective) {
      return "collective mismatch: rank 0 called " + name + " (" + main_text(first) + ") but " +
             rank_text(r) + " called " + collective_name(ranks[r].collective) + " (" +
             main_text(ranks[r]) + ")";
    }
  }
  for (size_t r = 1; r < ranks.size(); ++r) {
    if (ranks[r].op != first.op) {
      return name + ": rank 0 reduces with " + reduce_op_name(ReduceOp(first.op)) + " but " +
             rank_text(r) + " with " + reduce_op_name(ReduceOp(ranks[r].op));
    }
    if (ranks[r].root != first.root) {
      return name + ": rank 0 uses root " + std::to_string(first.root) + " but " + rank_text(r) +
             " uses root " + std::to_string(ranks[r].root);
    }
    if (ranks[r].dtype != first.dtype) {
      return name + ": rank 0 has " + main_text(first) + " but " + rank_text(r) + " has " +
             main_text(ranks[r]);
    }
  }
  switch (first.collective) {
    case Collective::AllReduce:
    case Collective::Broadcast:
      for (size_t r = 1; r < ranks.size(); ++r) {
        if (ranks[r].shapes.empty() || ranks[r].shapes[0] != first.shapes[0]) {
          return name + ": rank 0 has " + main_text(first) + " but " + rank_text(r) + " has " +
                 main_text(ranks[r]);
        }
      }
      break;
    case Collective::AllGather:
      // Rank q's outputs[r] must have rank r's input shape.
      for (size_t q = 0; q < ranks.size(); ++q) {
        for (size_t r = 0; r < ranks.size(); ++r) {
          if (q == r) continue;
          const Shape& expected = ranks[q].shapes.at(1 + r);
          if (expected != ranks[r].shapes.at(0)) {
            return name + ": " + rank_text(q) + " expects " + tensor_text(first.dtype, expected) +
                   " from " + rank_text(r) + " but " + rank_text(r) + " has " + main_text(ranks[r]);
          }
        }
      }
      break;
    case Collective::ReduceScatter:
      // Rank q's inputs[r] must have rank r's output shape.
      for (size_t q = 0; q < ranks.size(); ++q) {
        for (size_t r = 0; r < ranks.size(); ++r) {
          if (q == r) continue;
          const Shape& sent = ranks[q].shapes.at(1 + r);
          if (sent != ranks[r].shapes.at(0)) {
            return name + ": " + rank_text(q) + " sends " + tensor_text(first.dtype, sent) +
                   " to " + rank_text(r) + " but " + rank_text(r) + " has output " +
                   main_text(ranks[r]);
          }
        }
      }
      break;
    case Collective::Barrier:
      break;
  }
  return std::nullopt;
}

}  // namespace kiln::distributed::detail
