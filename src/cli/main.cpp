// The `kiln` program: train, eval, bench, info.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "kiln/error.h"

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: kiln <command> [options]\n\n"
               "commands:\n"
               "  train mlp      train a model (the embedded dataset unless --data DIR)\n"
               "  eval mlp       evaluate a checkpoint on the test split\n"
               "  bench          time a training step\n"
               "  info           version, build options, BLAS, threads, devices\n\n"
               "kiln train --help lists the training options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  try {
    if (command == "train") return kiln::cli::run_train(argc, argv);
    if (command == "eval") return kiln::cli::run_eval(argc, argv);
    if (command == "bench") return kiln::cli::run_bench(argc, argv);
    if (command == "info") return kiln::cli::run_info(argc, argv);
    std::fprintf(stderr, "kiln: unknown command '%s'\n\n", command.c_str());
    usage(stderr);
    return 2;
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "kiln %s: error: %s\n", command.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kiln %s: unexpected error: %s\n", command.c_str(), e.what());
    return 1;
  }
}
