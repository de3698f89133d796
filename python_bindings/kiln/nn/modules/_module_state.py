"""Module.state_dict / load_state_dict (a mixin of kiln.nn.Module), with torch's keys, messages
and _IncompatibleKeys result.

One difference from torch, on purpose: load_state_dict checks every entry (keys, types,
shapes) before it copies anything, so a load that raises leaves the module unchanged. (torch
copies the entries that fit and then raises.) A subclass that overrides _load_from_state_dict
keeps torch's behaviour for its own entries: its override runs during the checking pass.
"""
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

from ..._grad_mode import no_grad
from ..._tensor import Tensor
from ._hooks import RemovableHandle

_EXTRA_STATE_KEY_SUFFIX = "_extra_state"


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class _StateDictMixin:

    # ------------------------------------------------------------------ extra state

    def get_extra_state(self):
        """Override (with set_extra_state) to save extra state under '<prefix>_extra_state'."""
        raise RuntimeError("Module.get_extra_state() was called but the module does not "
                           "override it")

    def set_extra_state(self, state):
        raise RuntimeError("Module.set_extra_state() was called but the module does not "
                           "override it")

    def _has_extra_state(self, method):
        return getattr(type(self), method) is not getattr(_StateDictMixin, method)

    # ------------------------------------------------------------------ saving

    def _register_state_dict_hook(self, hook):
        handle = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = hook
        return handle

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()
        if self._has_extra_state("get_extra_state"):
            destination[prefix + _EXTRA_STATE_KEY_SUFFIX] = self.get_extra_state()

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """An OrderedDict of every parameter and persistent buffer by dotted name ("0.weight"),
        detached from autograd unless keep_vars. torch's positional (destination, prefix,
        keep_vars) form is accepted too."""
        if args:
            destination = args[0] if destination is None else destination
            if len(args) > 1 and prefix == "":
                prefix = args[1]
            if len(args) > 2 and keep_vars is False:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        local_metadata = dict(version=self._version)
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".",
                                  keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            hook_result = hook(self, destination, prefix, local_metadata)
            if hook_result is not None:
                destination = hook_result
        return destination

    # ------------------------------------------------------------------ loading

    def _register_load_state_dict_pre_hook(self, hook, with_module=False):
        handle = RemovableHandle(self._load_state_dict_pre_hooks)
        if with_module:
            module = self
            self._load_state_dict_pre_hooks[handle.id] = lambda *a: hook(module, *a)
        else:
            self._load_state_dict_pre_hooks[handle.id] = hook
        return handle

    def register_load_state_dict_post_hook(self, hook):
        """hook(module, incompatible_keys) runs after load_state_dict; it may edit the lists."""
        handle = RemovableHandle(self._load_state_dict_post_hooks)
        self._load_state_dict_post_hooks[handle.id] = hook
        return handle

    def _check_state_dict_entries(self, state_dict, prefix, local_metadata, strict, missing_keys,
                                  unexpected_keys, error_msgs, copies):
        """torch's _load_from_state_dict without the copies: each (destination, source) pair
        that passed its checks is appended to `copies` as (key, destination, source) instead."""
        for hook in self._load_state_dict_pre_hooks.values():
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                 error_msgs)
        local_state = {k: v for k, v in self._parameters.items() if v is not None}
        local_state.update((k, v) for k, v in self._buffers.items()
                           if v is not None and k not in self._non_persistent_buffers_set)
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            input_param = state_dict[key]
            if not isinstance(input_param, Tensor):
                error_msgs.append(f'While copying the parameter named "{key}", expected '
                                  "kiln.Tensor or Tensor-like object from checkpoint but "
                                  f"received {type(input_param)}")
                continue
            # Backward compatibility with checkpoints that stored scalars as 1-element tensors.
            if len(param.shape) == 0 and len(input_param.shape) == 1:
                input_param = input_param[0]
            if input_param.shape != param.shape:
                error_msgs.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{input_param.shape} from checkpoint, the shape in current "
                                  f"model is {param.shape}.")
                continue
            try:  # converted now, so that the copy pass cannot fail half-way
                input_param = input_param.detach().to(param.device, param.dtype)
            except Exception as ex:
                error_msgs.append(_copy_error(key, param, input_param, ex))
                continue
            copies.append((key, param, input_param))

        extra_state_key = prefix + _EXTRA_STATE_KEY_SUFFIX
        if self._has_extra_state("set_extra_state"):
            if extra_state_key in state_dict:
                copies.append((extra_state_key, self.set_extra_state, state_dict[extra_state_key]))
            elif strict:
                missing_keys.append(extra_state_key)
        elif strict and extra_state_key in state_dict:
            unexpected_keys.append(extra_state_key)

        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_state_key:
                    input_name = key[len(prefix):].split(".", 1)[0]
                    if input_name not in self._modules and input_name not in local_state:
                        unexpected_keys.append(key)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """Loads this module's own entries (not its children's), as torch's method of the same
        name; subclasses may override it."""
        copies = []
        self._check_state_dict_entries(state_dict, prefix, local_metadata, strict, missing_keys,
                                       unexpected_keys, error_msgs, copies)
        _apply_copies(copies, error_msgs)

    def load_state_dict(self, state_dict, strict=True):
        """Copies parameters and persistent buffers from state_dict (a mapping of dotted names
        to tensors, as state_dict() returns) into this module and its descendants. strict: the
        keys must match exactly. Returns _IncompatibleKeys(missing_keys, unexpected_keys);
        raises RuntimeError listing every problem, before copying anything."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing_keys, unexpected_keys, error_msgs, copies = [], [], [], []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)
        if metadata is not None:
            state_dict._metadata = metadata
        loaded = []

        def check(module, local_state_dict, prefix=""):
            local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
            if type(module)._load_from_state_dict is _StateDictMixin._load_from_state_dict:
                module._check_state_dict_entries(local_state_dict, prefix, local_metadata, True,
                                                 missing_keys, unexpected_keys, error_msgs,
                                                 copies)
            else:  # a subclass's own loading logic (it copies as it goes)
                module._load_from_state_dict(local_state_dict, prefix, local_metadata, True,
                                             missing_keys, unexpected_keys, error_msgs)
            loaded.append(module)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    check(child, {k: v for k, v in local_state_dict.items()
                                  if k.startswith(child_prefix)}, child_prefix)

        check(self, state_dict)
        if strict:
            if unexpected_keys:
                error_msgs.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected_keys)))
            if missing_keys:
                error_msgs.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing_keys)))
        if not error_msgs:
            _apply_copies(copies, error_msgs)
        if error_msgs:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                self.__class__.__name__, "\n\t".join(error_msgs)))
        incompatible_keys = _IncompatibleKeys(missing_keys, unexpected_keys)
        for module in loaded:
            for hook in module._load_state_dict_post_hooks.values():
                if hook(module, incompatible_keys) is not None:
                    raise RuntimeError("Hooks registered with register_load_state_dict_post_hook "
                                       "must return None; edit incompatible_keys in place")
        return incompatible_keys


def _apply_copies(copies, error_msgs):
    """Writes each checked (key, destination, source): tensors with copy_ under no_grad, extra
    state through set_extra_state."""
    with no_grad():
        for key, destination, source in copies:
            if not isinstance(destination, Tensor):
                destination(source)
                continue
            try:
                destination.copy_(source)
            except Exception as ex:
                error_msgs.append(_copy_error(key, destination, source, ex))


def _copy_error(key, param, input_param, ex):
    return (f'While copying the parameter named "{key}", whose dimensions in the model are '
            f"{param.shape} and whose dimensions in the checkpoint are {input_param.shape}, an "
            f"exception occurred : {ex.args}.")
