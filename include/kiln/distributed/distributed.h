#pragma once
// kiln::distributed: process groups, differentiable collectives, DistributedDataParallel and
// SyncBatchNorm.
#include "kiln/distributed/ddp.h"
#include "kiln/distributed/functional.h"
#include "kiln/distributed/process_group.h"
#include "kiln/distributed/sync_batch_norm.h"
