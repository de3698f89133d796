"""The module classes of kiln.nn, one file per family as in torch.nn.modules."""
from .module import Module
from .activation import (ELU, GELU, Hardtanh, LeakyReLU, LogSoftmax, ReLU, ReLU6, SiLU, Sigmoid,
                         Softmax, Softmin, Softplus, Tanh)
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .distance import CosineSimilarity, PairwiseDistance
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import Bilinear, Identity, Linear
from .loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, HuberLoss,
                   KLDivLoss, L1Loss, MarginRankingLoss, MSELoss, NLLLoss, SmoothL1Loss,
                   TripletMarginLoss)
from .parameter_containers import ParameterDict, ParameterList
from .pooling import AvgPool2d, MaxPool2d
from .sparse import Embedding

__all__ = [
    "Module", "ELU", "GELU", "Hardtanh", "LeakyReLU", "LogSoftmax", "ReLU", "ReLU6", "SiLU",
    "Sigmoid", "Softmax", "Softmin", "Softplus", "Tanh", "ModuleDict", "ModuleList",
    "ParameterDict", "ParameterList", "Sequential", "CosineSimilarity", "PairwiseDistance",
    "Dropout", "Flatten", "Unflatten", "Bilinear", "Identity", "Linear", "BCELoss",
    "BCEWithLogitsLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "HuberLoss", "KLDivLoss",
    "L1Loss", "MarginRankingLoss", "MSELoss", "NLLLoss", "SmoothL1Loss", "TripletMarginLoss",
    "Embedding", "Conv2d", "MaxPool2d", "AvgPool2d",
]
