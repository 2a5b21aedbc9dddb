# the first call counts as an improvement whatever its loss, NaN included.
# %% EarlyStopping
import copy
import math


class EarlyStopping:
    def __init__(self, patience=5, min_delta=0.0, restore_best_weights=True):
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be non-negative, got {min_delta}")
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.best_loss = math.inf
        self.best_epoch = 0
        self.counter = 0
        self.calls = 0
        self.best_state = None

    def __call__(self, val_loss, model):
        self.calls += 1
        if self.calls == 1 or val_loss < self.best_loss - self.min_delta:
            self.best_loss = float(val_loss)
            self.best_epoch = self.calls
            self.counter = 0
            if self.restore_best_weights:
                self.best_state = copy.deepcopy(model.state_dict())
            return False
        self.counter += 1
        if self.counter < self.patience:
            return False
        if self.restore_best_weights and self.best_state is not None:
            model.load_state_dict(self.best_state)
        return True
