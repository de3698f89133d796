// The learning-rate schedulers in kiln._C._optim. Each keeps a reference to its optimizer (the
// C++ object of a kiln.optim optimizer), kept alive for the scheduler's lifetime. State dicts
// cross as metadata dicts of strings; kiln/optim/lr_scheduler turns them into torch's shape.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "optim_binding.h"

namespace kiln::python {

namespace {

using optim::LRScheduler;
using optim::Optimizer;

void bind_scheduler_base(nb::module_& m) {
  nb::class_<LRScheduler>(m, "LRScheduler")
      .def_prop_ro("name", &LRScheduler::name)
      .def("step", &LRScheduler::step)
      .def("get_last_lr", &LRScheduler::get_last_lr)
      .def_prop_ro("base_lrs", &LRScheduler::base_lrs)
      .def_prop_ro("last_epoch", &LRScheduler::last_epoch)
      .def("state_dict", [](const LRScheduler& s) { return metadata_to_python(s.state_dict()); })
      .def(
          "load_state_dict",
          [](LRScheduler& s, const nb::dict& meta) {
            s.load_state_dict(metadata_from_python(meta));
          },
          "metadata"_a);
}

void bind_epoch_schedulers(nb::module_& m) {
  // keep_alive<1, 2>: the scheduler (1) keeps its optimizer (2) alive.
  nb::class_<optim::StepLR, LRScheduler>(m, "StepLR")
      .def(nb::init<Optimizer&, int64_t, double>(), "optimizer"_a, "step_size"_a, "gamma"_a,
           nb::keep_alive<1, 2>());
  nb::class_<optim::MultiStepLR, LRScheduler>(m, "MultiStepLR")
      .def(nb::init<Optimizer&, std::vector<int64_t>, double>(), "optimizer"_a, "milestones"_a,
           "gamma"_a, nb::keep_alive<1, 2>());
  nb::class_<optim::ExponentialLR, LRScheduler>(m, "ExponentialLR")
      .def(nb::init<Optimizer&, double>(), "optimizer"_a, "gamma"_a, nb::keep_alive<1, 2>());
  nb::class_<optim::CosineAnnealingLR, LRScheduler>(m, "CosineAnnealingLR")
      .def(nb::init<Optimizer&, int64_t, double>(), "optimizer"_a, "T_max"_a, "eta_min"_a,
           nb::keep_alive<1, 2>());
  nb::class_<optim::LinearLR, LRScheduler>(m, "LinearLR")
      .def(nb::init<Optimizer&, double, double, int64_t>(), "optimizer"_a, "start_factor"_a,
           "end_factor"_a, "total_iters"_a, nb::keep_alive<1, 2>());
}

void bind_one_cycle(nb::module_& m) {
  nb::class_<optim::OneCycleLR, LRScheduler>(m, "OneCycleLR")
      .def(
          "__init__",
          [](optim::OneCycleLR* self, Optimizer& optimizer, std::vector<double> max_lr,
             int64_t total_steps, double pct_start, std::string anneal_strategy,
             bool cycle_momentum, double base_momentum, double max_momentum, double div_factor,
             double final_div_factor, bool three_phase) {
            optim::OneCycleLROptions o;
            o.pct_start = pct_start;
            o.anneal_strategy = std::move(anneal_strategy);
            o.cycle_momentum = cycle_momentum;
            o.base_momentum = base_momentum;
            o.max_momentum = max_momentum;
            o.div_factor = div_factor;
            o.final_div_factor = final_div_factor;
            o.three_phase = three_phase;
            new (self) optim::OneCycleLR(optimizer, std::move(max_lr), total_steps, std::move(o));
          },
          "optimizer"_a, "max_lr"_a, "total_steps"_a, "pct_start"_a, "anneal_strategy"_a,
          "cycle_momentum"_a, "base_momentum"_a, "max_momentum"_a, "div_factor"_a,
          "final_div_factor"_a, "three_phase"_a, nb::keep_alive<1, 2>());
}

void bind_reduce_on_plateau(nb::module_& m) {
  using optim::ReduceLROnPlateau;
  nb::class_<ReduceLROnPlateau>(m, "ReduceLROnPlateau")
      .def(
          "__init__",
          [](ReduceLROnPlateau* self, Optimizer& optimizer, std::string mode, double factor,
             int64_t patience, double threshold, std::string threshold_mode, int64_t cooldown,
             std::vector<double> min_lr, double eps) {
            optim::ReduceLROnPlateauOptions o;
            o.mode = std::move(mode);
            o.factor = factor;
            o.patience = patience;
            o.threshold = threshold;
            o.threshold_mode = std::move(threshold_mode);
            o.cooldown = cooldown;
            o.min_lr = std::move(min_lr);
            o.eps = eps;
            new (self) ReduceLROnPlateau(optimizer, std::move(o));
          },
          "optimizer"_a, "mode"_a, "factor"_a, "patience"_a, "threshold"_a, "threshold_mode"_a,
          "cooldown"_a, "min_lr"_a, "eps"_a, nb::keep_alive<1, 2>())
      .def("step", &ReduceLROnPlateau::step, "metric"_a)
      .def("get_last_lr", &ReduceLROnPlateau::get_last_lr)
      .def_prop_ro("last_epoch", &ReduceLROnPlateau::last_epoch)
      .def_prop_ro("best", &ReduceLROnPlateau::best)
      .def_prop_ro("num_bad_epochs", &ReduceLROnPlateau::num_bad_epochs)
      .def_prop_ro("in_cooldown", &ReduceLROnPlateau::in_cooldown)
      .def("state_dict",
           [](const ReduceLROnPlateau& s) { return metadata_to_python(s.state_dict()); })
      .def(
          "load_state_dict",
          [](ReduceLROnPlateau& s, const nb::dict& meta) {
            s.load_state_dict(metadata_from_python(meta));
          },
          "metadata"_a);
}

}  // namespace

void bind_lr_schedulers(nb::module_& m) {
  bind_scheduler_base(m);
  bind_epoch_schedulers(m);
  bind_one_cycle(m);
  bind_reduce_on_plateau(m);
}

}  // namespace kiln::python
