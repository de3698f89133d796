#pragma once
// The subcommands of the `kiln` program; each returns the process exit code.
namespace kiln::cli {

int run_train(int argc, char** argv);  // kiln train <model> [options]
int run_eval(int argc, char** argv);   // kiln eval <model> --checkpoint FILE [options]
int run_bench(int argc, char** argv);  // kiln bench [options]
int run_info(int argc, char** argv);   // kiln info

}  // namespace kiln::cli
