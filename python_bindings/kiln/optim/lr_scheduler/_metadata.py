"""The C++ schedulers' state dicts (metadata: strings) as torch-shaped values, and back. Keys keep
torch's attribute names (last_epoch, base_lrs, _last_lr, gamma, ...)."""

_INTS = {"last_epoch", "_step_count", "step_size", "T_max", "total_iters", "total_steps",
         "patience", "cooldown", "num_bad_epochs", "cooldown_counter"}
_FLOATS = {"gamma", "eta_min", "start_factor", "end_factor", "pct_start", "base_momentum",
           "max_momentum", "div_factor", "final_div_factor", "factor", "threshold", "eps", "best"}
_FLOAT_LISTS = {"base_lrs", "_last_lr", "min_lrs"}
_INT_LISTS = {"milestones"}
_BOOLS = {"cycle_momentum", "three_phase"}
_STRINGS = {"anneal_strategy", "momentum_key", "mode", "threshold_mode"}
KNOWN = _INTS | _FLOATS | _FLOAT_LISTS | _INT_LISTS | _BOOLS | _STRINGS


def _split(text):
    return text.split(",") if text else []


def value_from_text(key, text):
    if key in _INTS:
        return int(text)
    if key in _FLOATS:
        return float(text)
    if key in _FLOAT_LISTS:
        return [float(t) for t in _split(text)]
    if key in _INT_LISTS:
        return [int(t) for t in _split(text)]
    if key in _BOOLS:
        return text == "true"
    return text


def text_from_value(key, value):
    if key in _INTS:
        return str(int(value))
    if key in _FLOATS:
        return repr(float(value))  # the shortest text that reads back bit-identically
    if key in _FLOAT_LISTS:
        return ",".join(repr(float(v)) for v in value)
    if key in _INT_LISTS:
        return ",".join(str(int(v)) for v in value)
    if key in _BOOLS:
        return "true" if value else "false"
    return str(value)


def from_metadata(metadata):
    """{'last_epoch': 3, 'base_lrs': [0.1], ...} from the C++ strings (without 'scheduler')."""
    return {key: value_from_text(key, text) for key, text in metadata.items()
            if key in KNOWN}


def to_metadata(name, state):
    """The C++ metadata for `state` (keys Kiln does not save, such as 'verbose', are left out)."""
    metadata = {key: text_from_value(key, value) for key, value in state.items() if key in KNOWN}
    metadata["scheduler"] = name
    return metadata


class CppStateAttributes:
    """Mixin: the entries of the C++ scheduler's state dict (`self._c`) read and write as
    attributes with torch's names: scheduler.last_epoch, scheduler.gamma = 0.5, ..."""

    def __getattr__(self, name):
        c = self.__dict__.get("_c")
        if c is not None and name in KNOWN:
            metadata = c.state_dict()
            if name in metadata:
                return value_from_text(name, metadata[name])
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name, value):
        c = self.__dict__.get("_c")
        if c is not None and name in KNOWN:
            metadata = c.state_dict()
            if name in metadata:
                metadata[name] = text_from_value(name, value)
                c.load_state_dict(metadata)
                return
        object.__setattr__(self, name, value)
