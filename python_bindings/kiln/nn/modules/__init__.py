"""The module classes of kiln.nn, one file per family as in torch.nn.modules."""
from .module import Module
from .activation import (ELU, GELU, Hardtanh, LeakyReLU, LogSoftmax, ReLU, ReLU6, SiLU, Sigmoid,
                         Softmax, Softmin, Softplus, Tanh)
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d
from .distance import CosineSimilarity, PairwiseDistance
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import Bilinear, Identity, Linear
from .normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm,
                            InstanceNorm2d)
from .loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, HuberLoss,
                   KLDivLoss, L1Loss, MarginRankingLoss, MSELoss, NLLLoss, SmoothL1Loss,
                   TripletMarginLoss)
from .parameter_containers import ParameterDict, ParameterList
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d,
                      AvgPool2d, MaxPool1d, MaxPool2d, MaxUnpool2d)
from .sparse import Embedding

__all__ = [
    "Module", "ELU", "GELU", "Hardtanh", "LeakyReLU", "LogSoftmax", "ReLU", "ReLU6", "SiLU",
    "Sigmoid", "Softmax", "Softmin", "Softplus", "Tanh", "ModuleDict", "ModuleList",
    "ParameterDict", "ParameterList", "Sequential", "CosineSimilarity", "PairwiseDistance",
    "Dropout", "Flatten", "Unflatten", "Bilinear", "Identity", "Linear", "BCELoss",
    "BCEWithLogitsLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "HuberLoss", "KLDivLoss",
    "L1Loss", "MarginRankingLoss", "MSELoss", "NLLLoss", "SmoothL1Loss", "TripletMarginLoss",
    "Embedding", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "MaxPool2d", "AvgPool2d",
    "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
    "MaxUnpool2d",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm", "InstanceNorm2d",
]
from .padding import ConstantPad2d, ReflectionPad2d, ReplicationPad2d, ZeroPad2d  # noqa: E402
from .resample import Dropout2d, PixelShuffle, PixelUnshuffle, Upsample  # noqa: E402

__all__ += ["ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "ZeroPad2d", "Dropout2d",
            "PixelShuffle", "PixelUnshuffle", "Upsample"]
