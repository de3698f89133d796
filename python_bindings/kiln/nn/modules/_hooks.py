"""RemovableHandle for module hooks, like torch.utils.hooks.RemovableHandle."""
import weakref


class RemovableHandle:
    """Removes the hook it was returned for from its dict: handle.remove(), or use it as a
    context manager. Holds the dict weakly so a handle does not keep a module alive."""

    _next_id = 0

    def __init__(self, hooks_dict):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        hooks_dict = self.hooks_dict_ref()
        if hooks_dict is not None and self.id in hooks_dict:
            del hooks_dict[self.id]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
