"""kiln.optim: optimizers and learning-rate schedulers with torch.optim's API (PyTorch 1.13).

SGD, Adagrad, RMSprop, Adam and AdamW run in C++ (one call per step); Optimizer is torch's
pure-Python base class, for optimizers written in Python.
"""
from .optimizer import Optimizer
from .sgd import SGD
from .adagrad import Adagrad
from .rmsprop import RMSprop
from .adam import Adam
from .adamw import AdamW
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "lr_scheduler"]
