# Clones of every tensor in the state_dict; the improvement test written as a gain larger than min_delta.
# %% EarlyStopping
import math

import torch


class EarlyStopping:
    def __init__(self, patience=5, min_delta=0.0, restore_best_weights=True):
        if not patience >= 1 or not min_delta >= 0:
            raise ValueError("need patience >= 1 and min_delta >= 0")
        self.patience, self.min_delta, self.restore_best_weights = patience, min_delta, restore_best_weights
        self.best_loss, self.best_epoch, self.counter = math.inf, 0, 0
        self.history = []
        self.saved = {}

    def __call__(self, val_loss, model):
        self.history.append(val_loss)
        gain = self.best_loss - val_loss          # NaN when val_loss is NaN: the comparison below is False
        if gain > self.min_delta:
            self.best_loss, self.best_epoch, self.counter = val_loss, len(self.history), 0
            if self.restore_best_weights:
                with torch.no_grad():
                    self.saved = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
            return False
        self.counter = self.counter + 1
        stop = self.counter >= self.patience
        if stop and self.restore_best_weights and self.saved:
            model.load_state_dict(self.saved)
        return stop
