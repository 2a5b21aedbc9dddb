# Keeps a deep copy of the whole model; numpy.bool_ answers; the test written as val_loss + min_delta < best_loss.
# %% EarlyStopping
import copy

import numpy as np


class EarlyStopping:
    def __init__(self, patience=5, min_delta=0.0, restore_best_weights=True):
        if patience < 1:
            raise ValueError("patience must be >= 1")
        if min_delta < 0:
            raise ValueError("min_delta must be >= 0")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.restore_best_weights = restore_best_weights
        self.best_loss = float("inf")
        self.best_epoch = 0
        self.counter = 0
        self.epoch = 0
        self.best_model = None

    def __call__(self, val_loss, model):
        self.epoch += 1
        if np.isnan(val_loss) or not (val_loss + self.min_delta < self.best_loss):
            self.counter += 1
            should_stop = np.int64(self.counter) >= self.patience
            if should_stop and self.restore_best_weights and self.best_model is not None:
                model.load_state_dict(self.best_model.state_dict())
            return should_stop
        self.best_loss = val_loss
        self.best_epoch = self.epoch
        self.counter = 0
        if self.restore_best_weights:
            self.best_model = copy.deepcopy(model)
        return False
