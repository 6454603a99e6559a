"""A table of bad inputs through the CLI's ``main``: each fails with exit status 2 and one clear line, no traceback,
nothing written outside ``lightning_logs``; a crafted pickle never runs.

The inputs (files, and a trained checkpoint) are made once per module; each row is its own in-process test.
"""

import gzip
import os
import pickle
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import call_main, figures_off, run_dirs
from logreg import FileDataModule

FILES = {
    "empty.csv": "",
    "header.csv": "a,b,label\n",
    "nolabel.csv": "a,b\n1,2\n3,4\n5,6\n",
    "text.csv": "a,b,label\n1,2,0\n3,oops,1\n",
    "nan.csv": "a,b,label\n1,2,0\n3,nan,1\n",
    "inf.csv": "a,b,label\n1,inf,0\n3,4,1\n",
    "third.csv": "a,label\n1,0\n2,1\n3,2\n",
    "single.csv": "a,label\n1,1\n2,1\n",
    "ragged.csv": "a,b,label\n1,2,0\n3,4\n",
    "quote.csv": 'a,b,label\n1,2,0\n3,"4,1\n5,6,0\n7,8,1\n',
    "tiny.csv": "a,label\n1,0\n2,1\n3,1\n",
    "semicolons.csv": "a;b;label\n1;2;0\n3;4;1\n",
    "mixed.csv": "a,label\n1,1\n2,true\n3,True\n",
    "ones.csv": "a,label\n" + "".join(f"{i},1\n" for i in range(10)),
    "config_unknown.yaml": "model:\n  nope: 1\n",
    "config_broken.yaml": "trainer:\n  max_epochs: [\n",
    "config_list.yaml": "- trainer\n- model\n",
    "trailing.csv": "a,label,\n1,0,\n2,1,\n",
    "trailing_rows.csv": "a,label\n1,0,\n2,1,\n",
    "unnamed.csv": ",a,label\n0,1,0\n1,2,1\n",
}

CKPT = "ok/lightning_logs/version_0/checkpoints/last.ckpt"
CONFIG = "ok/lightning_logs/version_0/config.yaml"
FILE_CKPT = "okfile/lightning_logs/version_0/checkpoints/last.ckpt"  # trained on ab.csv
NO_TEST_CKPT = "okfile/lightning_logs/version_1/checkpoints/last.ckpt"  # trained on ab.csv, no test split

# (name, arguments, words the single stderr line must contain)
ROWS = [
    ("negative lr", ["fit", "--model.lr", "-1"], ["lr must be > 0"]),
    ("zero lr", ["fit", "--model.lr", "0"], ["lr must be > 0"]),
    ("lr not a number", ["fit", "--model.lr", "fast"], ["model.lr", "fast"]),
    ("unknown loss", ["fit", "--model.loss", "hinge"], ["model.loss", "hinge"]),
    ("negative batch size", ["fit", "--data.batch_size", "-1"], ["batch_size must be >= 1, or 0 for the whole split"]),
    ("batch size not an int", ["fit", "--data.batch_size", "2.5"], ["--data.batch_size 2.5: expected an integer"]),
    ("batch size not a number", ["fit", "--data.batch_size", "abc"], ["--data.batch_size abc: expected an integer"]),
    ("val fraction too big", ["fit", "--data.val_fraction", "1.5"], ["val_fraction must be in [0, 1)"]),
    ("negative test fraction", ["fit", "--data.test_fraction", "-0.2"], ["test_fraction must be in [0, 1)"]),
    ("fractions sum to 1", ["fit", "--data.val_fraction", "0.5", "--data.test_fraction", "0.5"], ["must be < 1"]),
    ("zero step", ["fit", "--data.step", "0"], ["step must be > 0"]),
    ("one class only", ["fit", "--data.threshold", "9"], ["threshold=9.0 leaves only one class"]),
    ("unknown data module", ["fit", "--data", "NoSuchModule"], ["NoSuchModule", "data"]),
    ("unknown flag", ["fit", "--trainer.max_epoch", "3"], ["trainer.max_epoch"]),
    ("unknown top-level flag", ["fit", "--no_such_flag", "1"], ["no_such_flag"]),
    ("max_epochs not an int", ["fit", "--trainer.max_epochs", "many"], ["trainer.max_epochs", "many"]),
    ("unknown config key", ["fit", "--config", "config_unknown.yaml"], ["model.nope"]),
    ("broken config", ["fit", "--config", "config_broken.yaml"], ["config"]),
    ("missing config", ["fit", "--config", "nothere.yaml"], ["nothere.yaml"]),
    ("YAML alias bomb", ["fit", "--config", "bomb.yaml"], ["--config bomb.yaml: uses YAML aliases"]),
    ("config not YAML", ["fit", "--config", "config_broken.yaml"],
     ["--config config_broken.yaml: not valid YAML: while parsing a flow node", "(line 3, column 1)"]),
    ("config not a mapping", ["fit", "--config", "config_list.yaml"],
     ["--config config_list.yaml: not a mapping of settings (key: value lines): it is a list"]),
    ("config not UTF-8", ["fit", "--config", "binary.csv"], ["--config binary.csv: not UTF-8 text"]),
    ("model config not YAML", ["fit", "--model", "config_broken.yaml"], ["--model config_broken.yaml: not valid YAML"]),
    ("a data file as --data", ["fit", "--data", "text.csv"],
     ["--data text.csv: not a mapping of settings", "a data file is given as --data.path FILE"]),
    ("a data flag without its value", ["fit", "--data.path"], ["argument --data.path: expected one argument"]),
    ("a data flag followed by a flag", ["fit", "--data.path", "--model.lr", "1"],
     ["argument --data.path: expected one argument"]),
    ("missing data file", ["fit", "--data", "FileDataModule", "--data.path", "missing.csv"],
     ["missing.csv: file not found"]),
    *[
        (f"file: {name}", ["fit", "--data", "FileDataModule", "--data.path", name], [name, *words])
        for name, *words in [
            ("empty.csv", "file is empty"),
            ("header.csv", "header only"),
            ("nolabel.csv", "no label column 'label'"),
            ("text.csv", "row 3, column 'b': not a number: 'oops'"),
            ("nan.csv", "row 3, column 'b': 'nan' is not a finite number"),
            ("inf.csv", "row 2, column 'b': 'inf' is not a finite number"),
            ("third.csv", "row 4, column 'label': third label value '2'"),
            ("single.csv", "every label is '1'; training needs two classes"),
            ("mixed.csv", "every label is '1'; training needs two classes"),  # 1 and true are one class
            ("semicolons.csv", "the header 'a;b;label' is one column", "separates them by semicolons"),
            ("gzipped.csv", "not a text CSV file: it is gzip-compressed; decompress it first (gunzip)"),
            ("ragged.csv", "row 3: 2 columns, but the header has 3"),
            ("trailing.csv", "column 3 of the header has no name (the header ends with a separator: remove it)"),
            ("trailing_rows.csv", "row 2: 3 columns, but the header has 2 (the line ends with a separator)"),
            ("unnamed.csv", "column 1 of the header has no name (name it, or drop the column)"),
            ("quote.csv", "row 3, column 'b': a quoted value opens here and is never closed"),
            ("tiny.csv", "3 rows are too few for this split"),
            ("binary.csv", "not a text CSV file"),
            ("nonpy", "directory has no x.npy"),
            ("mismatch", "must have shape (40,) to match the features"),
        ]
    ],
    *[(f"missing checkpoint ({command})", [command, "--ckpt_path", "none.ckpt"],
       ["--ckpt_path none.ckpt: checkpoint file not found"]) for command in ("fit", "test", "predict")],
    ("crafted pickle (test)", ["test", "--ckpt_path", "evil.ckpt"], ["evil.ckpt", "refused to load"]),
    ("crafted pickle (predict)", ["predict", "--ckpt_path", "evil.ckpt"], ["evil.ckpt", "refused to load"]),
    ("truncated checkpoint", ["test", "--ckpt_path", "cut.ckpt"], ["cut.ckpt: not a checkpoint (a truncated"]),
    ("not a checkpoint", ["predict", "--ckpt_path", "notes.ckpt"], ["notes.ckpt: not a checkpoint (a text file)"]),
    ("no state_dict", ["test", "--ckpt_path", "tensor.ckpt"], ["tensor.ckpt", "not a Lightning checkpoint"]),
    ("checkpoint of another shape", ["test", "--ckpt_path", CKPT, "--data.n_features", "3", "--data.n_samples", "90"],
     [CKPT, "takes 1 features, the data has 3"]),
    ("predictions to a missing directory", ["predict", "--ckpt_path", CKPT, "--predictions", "no/such/dir/out.csv"],
     ["--predictions no/such/dir/out.csv", "does not exist"]),
    ("predictions to a directory", ["predict", "--ckpt_path", CKPT, "--predictions", "nonpy"], ["is a directory"]),
    ("predictions over an existing file", ["predict", "--ckpt_path", CKPT, "--predictions", "empty.csv"],
     ["file exists", "--overwrite"]),
    ("checkpoint keyword outside fit", ["test", "--ckpt_path", "last"], ["--ckpt_path last", "only fit"]),
    ("checkpoint is a directory", ["test", "--ckpt_path", "nonpy"], ["--ckpt_path nonpy", "is a directory"]),
    ("empty checkpoint", ["validate", "--ckpt_path", "zero.ckpt"], ["zero.ckpt", "empty file"]),
    ("state_dict only", ["test", "--ckpt_path", "bare.ckpt"], ["bare.ckpt", "not a Lightning checkpoint"]),
    ("non-finite weights", ["predict", "--ckpt_path", "nan.ckpt"], ["nan.ckpt", "linear.weight holds NaN"]),
    ("weights of the wrong shape", ["test", "--ckpt_path", "shape.ckpt"],
     ["shape.ckpt", "linear.weight has shape (1, 3), the model needs (1, 1)"]),
    ("a weight missing", ["validate", "--ckpt_path", "partial.ckpt"], ["partial.ckpt", "no feature_scale"]),
    ("nan labels in an npz", ["fit", "--data", "FileDataModule", "--data.path", "nanlabel.npz"],
     ["nanlabel.npz: y[1] (row 2) is nan, not a label"]),
    ("predict on other columns", ["predict", "--ckpt_path", FILE_CKPT, "--data", "FileDataModule",
                                  "--data.path", "ba.csv"], ["ba.csv", "feature columns ['b', 'a'] differ"]),
    ("labels the model never saw", ["test", "--ckpt_path", FILE_CKPT, "--data", "FileDataModule", "--data.path",
                                    "xy.csv"], ["xy.csv: label 'x' is not one the model was trained on ('0', '1')"]),
    ("predictions over the input", ["predict", "--ckpt_path", FILE_CKPT, "--data", "FileDataModule", "--data.path",
                                     "ab.csv", "--predictions", "ab.csv", "--overwrite", "true"],
     ["--predictions ab.csv: is ab.csv, which this command reads"]),
    ("predictions over the checkpoint", ["predict", "--ckpt_path", CKPT, "--predictions", CKPT, "--overwrite", "true"],
     [f"--predictions {CKPT}: is {CKPT}, which this command reads"]),
    ("negative split seed", ["fit", "--data.split_seed", "-1"], ["split_seed must be >= 0, got -1"]),
    ("data beyond memory", ["fit", "--data.n_features", "100", "--data.n_samples", "100000000000"],
     ["n_samples=100000000000 x n_features=100 need", "GiB of float32 data, more than this machine's"]),
    ("a CSV named .npz", ["fit", "--data", "FileDataModule", "--data.path", "text.npz"],
     ["text.npz: not an .npz archive"]),
    ("a broken npz member", ["fit", "--data", "FileDataModule", "--data.path", "broken.npz"],
     ["broken.npz: member 'x' is not a readable .npy array"]),
    ("predictions to an empty path", ["predict", "--ckpt_path", CKPT, "--predictions", ""], ["an empty path"]),
    ("data from an empty path", ["fit", "--data.path", ""], ["logreg: error: --data.path: an empty path"]),
    ("data from a pipe", ["fit", "--data", "FileDataModule", "--data.path", "pipe.csv"],
     ["pipe.csv: not a regular file"]),
    ("no devices", ["fit", "--trainer.devices", "0"], ["Trainer(devices='0')", "not a valid input"]),
    *[(f"devices {value} on CPU", ["fit", "--trainer.accelerator", "cpu", "--trainer.devices", value],
       ["a --trainer flag Lightning refuses: `devices` selected with `CPUAccelerator` should be an int > 0"])
      for value in ("-1", "1.5")],
    *[(f"overfit_batches {value}", ["fit", "--trainer.overfit_batches", value],
       [f"--trainer.overfit_batches {value}: not supported", "--trainer.limit_train_batches N"])
      for value in ("1", "0.5")],
    ("negative l2", ["fit", "--model.l2", "-0.1"], ["l2 must be a finite number >= 0, got -0.1"]),
    *[(f"l2 {value}", ["fit", *flag], [f"--model.l2 {value}: l2 must be a finite number >= 0", "--model.C inf means"])
      for value, flag in (("inf", ["--model.l2", "inf"]), ("nan", ["--model.l2=nan"]))],
    ("negative l1", ["fit", "--model.l1", "-1"], ["l1 must be a finite number >= 0, got -1"]),
    ("zero pos_weight", ["fit", "--model.pos_weight", "0"], ["pos_weight must be a number > 0, 'balanced' or null"]),
    ("unknown pos_weight", ["fit", "--model.pos_weight", "heavy"], ["model.pos_weight", "heavy"]),
    ("pos_weight with mse", ["fit", "--model.pos_weight", "2", "--model.loss", "mse"],
     ["pos_weight", "needs loss 'bce'"]),
    ("l1 with L-BFGS", ["fit", "--model.l1", "0.1", "--optimizer", "LBFGS"], ["--model.l1 needs SGD", "LBFGS cannot"]),
    ("l1 with Adam", ["fit", "--model.l1", "0.1", "--optimizer", "Adam"], ["--model.l1 needs SGD", "Adam cannot"]),
    ("Newton on mini-batches", ["fit", "--optimizer", "logreg.model.newton.Newton"],
     ["the Newton optimizer is full batch: set --data.batch_size 0"]),
    ("Newton with mse", ["fit", "--optimizer", "logreg.model.newton.Newton", "--data.batch_size", "0", "--model.loss",
                         "mse"], ["the Newton optimizer fits the cross-entropy", "--config lbfgs.yaml"]),
    ("zero tol", ["fit", "--model.tol", "0"], ["tol must be a finite number > 0, got 0"]),
    ("zero C", ["fit", "--model.C", "0"], ["C must be a number > 0, inf or none (no penalty), or null", "got 0"]),
    ("C not a number", ["fit", "--model.C", "lots"], ["model.C", "lots"]),
    *[(f"C {value}", ["fit", "--model.C", value], [f"C={value} is too small for 24 training rows: its penalty l2"])
      for value in ("1e-300", "1e-310")],  # (the loss became nan at the first step)
    # refused while parsing: --print_config prints only a config that runs (it printed C <= 0)
    *[(f"C {value} printed", ["fit", *flags, "--print_config"], [f"--model.C {value}: C must be a number > 0, inf or"])
      for value, flags in (("-1.0", ["--model.C=-1"]), ("0.0", ["--model.C", "0"]), ("-2.0", ["--model", "{C: -2}"]))],
    ("C and l2", ["fit", "--model.C", "1", "--model.l2", "0.1"], ["give l2 or C, not both"]),  # both as flags
    ("tabular recipe without a file", ["fit", "--config", "tabular"], ["--data.path: required by", "FileDataModule"]),
    ("l1 with momentum", ["fit", "--model.l1", "0.1", "--optimizer", "SGD", "--optimizer.momentum", "0.9"],
     ["--model.l1 needs plain SGD"]),
    ("threshold 0", ["fit", "--model.threshold", "0"], ["threshold must be in (0, 1), got 0"]),
    ("threshold 1", ["fit", "--model.threshold", "1"], ["threshold must be in (0, 1), got 1"]),
    ("threshold 1.5", ["fit", "--model.threshold", "1.5"], ["threshold must be in (0, 1), got 1.5"]),
    # values float32 rounds to 0, 1 or inf: refused as 0, 1 and inf are, naming the flag (exit 0 or a traceback before)
    *[(f"{flag} {value}", ["fit", f"--model.{flag}={value}"], [f"--model.{flag} {value}: {flag} must be", words])
      for flag, value, words in (("threshold", "1e-300", "got 1e-300 (float32 rounds it to 0)"),
                                 ("threshold", "0.99999999999", "(float32 rounds it to 1)"),
                                 ("pos_weight", "1e-320", "(float32 rounds it to 0)"),
                                 ("pos_weight", "1e39", "(float32 rounds it to inf)"),
                                 ("init_bias", "1e308", "init_bias must be a finite number, got 1e+308"),
                                 ("init_weight", "-1e39", "(float32 rounds it to -inf)"))],
    ("tuning without validation", ["fit", "--model.tune_threshold", "f1", "--data.val_fraction", "0"],
     ["--model.tune_threshold needs a validation split"]),
    ("tuning with validation off", ["fit", "--model.tune_threshold", "youden", "--trainer.limit_val_batches", "0.0"],
     ["--model.tune_threshold needs validation", "--trainer.limit_val_batches is 0"]),
    ("unknown tuning criterion", ["fit", "--model.tune_threshold", "accuracy"], ["model.tune_threshold", "accuracy"]),
    ("predict threshold 2", ["predict", "--ckpt_path", CKPT, "--predictions", "p.csv", "--threshold", "2"],
     ["--threshold must be in (0, 1), got 2"]),
    ("zero patience", ["fit", "--early_stopping.patience", "0"], ["early_stopping.patience must be >= 1"]),
    ("negative min_delta", ["fit", "--early_stopping.patience", "2", "--early_stopping.min_delta", "-1"],
     ["early_stopping.min_delta must be >= 0"]),
    ("log directory is a file", ["fit", "--trainer.logger.init_args.save_dir", "empty.csv"],
     ["cannot create the run directory under empty.csv/lightning_logs", "Not a directory"]),
    ("convert into an existing directory", ["convert", "text.csv", "ok"], ["ok: already exists"]),
    ("convert a missing file", ["convert", "nothere.csv", "out"], ["nothere.csv: file not found"]),
    ("convert without an output directory", ["convert", "text.csv"], ["out_dir"]),
    ("convert a bad cell", ["convert", "text.csv", "out"], ["text.csv, row 3, column 'b': not a number: 'oops'"]),
    ("convert a misspelt label", ["convert", "ab.csv", "out", "--label", "lable"],
     ["ab.csv: no label column 'lable' (columns: 'a', 'b', 'label')", "--unlabelled true"]),
    ("convert without the label column", ["convert", "nolabel.csv", "out"],
     ["nolabel.csv: no label column 'label' (columns: 'a', 'b')"]),
    ("convert with a label and unlabelled", ["convert", "ab.csv", "out", "--label", "a", "--unlabelled", "true"],
     ["give --label NAME or --unlabelled true, not both"]),
    ("convert a gzipped file", ["convert", "gzipped.csv", "out"], ["gzipped.csv: not a text CSV file: it is gzip"]),
    ("positive class not a label", ["fit", "--data", "FileDataModule", "--data.path", "ab.csv", "--data.positive",
                                    "yes"], ["ab.csv: --data.positive 'yes' is not a label of column 'label'",
                                             "(its labels: '0', '1')"]),
    ("positive class other than the model's", ["test", "--ckpt_path", FILE_CKPT, "--data", "FileDataModule",
                                               "--data.path", "ab.csv", "--data.positive", "0"],
     ["ab.csv: --data.positive '0', but the model's positive class is '1'"]),
    ("one class and a checkpoint without classes", ["test", "--ckpt_path", CKPT, "--data", "FileDataModule",
                                                    "--data.path", "ones.csv"],
     ["ones.csv: every label is '1', and the checkpoint does not say which class that is"]),
    ("export a missing checkpoint", ["export", "--ckpt_path", "none.ckpt", "--output", "m.onnx"],
     ["--ckpt_path none.ckpt: checkpoint file not found"]),
    ("export a crafted pickle", ["export", "--ckpt_path", "evil.ckpt", "--output", "m.onnx"],
     ["evil.ckpt", "refused to load"]),
    ("export a truncated checkpoint", ["export", "--ckpt_path", "cut.ckpt", "--output", "m.onnx"],
     ["--ckpt_path cut.ckpt: not a checkpoint (a truncated or damaged zip file)"]),
    ("export a plain tensor file", ["export", "--ckpt_path", "tensor.ckpt", "--output", "m.onnx"],
     ["tensor.ckpt", "not a Lightning checkpoint"]),
    ("export a checkpoint missing a weight", ["export", "--ckpt_path", "partial.ckpt", "--output", "m.onnx"],
     ["partial.ckpt", "not a logreg checkpoint (no feature_scale"]),
    ("export non-finite weights", ["export", "--ckpt_path", "nan.ckpt", "--output", "m.onnx"],
     ["nan.ckpt", "linear.weight holds NaN"]),
    ("export a checkpoint of another model", ["export", "--ckpt_path", "extra.ckpt", "--output", "m.onnx"],
     ["extra.ckpt: not a logreg checkpoint", "head.weight"]),
    ("export without --output", ["export", "--ckpt_path", CKPT], ["required", "output"]),
    ("export into a missing directory", ["export", "--ckpt_path", CKPT, "--output", "no/such/dir/m.onnx"],
     ["--output no/such/dir/m.onnx: directory no/such/dir does not exist"]),
    ("export under a file", ["export", "--ckpt_path", CKPT, "--output", "empty.csv/m.onnx"],
     ["--output empty.csv/m.onnx: empty.csv is not a directory"]),
    ("export to a directory", ["export", "--ckpt_path", CKPT, "--output", "nonpy"],
     ["--output nonpy: is a directory"]),
    ("export over an existing file", ["export", "--ckpt_path", CKPT, "--output", "empty.csv"],
     ["--output empty.csv: file exists; pass --overwrite true"]),
    ("export over the checkpoint", ["export", "--ckpt_path", CKPT, "--output", CKPT, "--overwrite", "true"],
     [f"--output {CKPT}: is {CKPT}, which this command reads"]),
    ("export to an empty path", ["export", "--ckpt_path", CKPT, "--output", ""], ["--output: an empty path"]),
    ("an unknown subcommand", ["frob"],
     ["unknown subcommand 'frob' (choose from fit, validate, test, predict, convert, export)"]),
    ("--version with more words", ["--version", "extra"], ["--version takes no arguments, got 'extra'"]),
    ("export to a name ending in /", ["export", "--ckpt_path", CKPT, "--output", "newdir/"],
     ["--output newdir/: ends with '/', which names a directory"]),
    ("predictions to a name ending in /", ["predict", "--ckpt_path", CKPT, "--predictions", "newpred/"],
     ["--predictions newpred/: ends with '/', which names a directory"]),
    *[(f"{command} without a checkpoint", [command], [f"logreg {command} evaluates a trained model", "--ckpt_path"])
      for command in ("validate", "test", "predict")],
    ("a checkpoint replaced by a later config", ["test", "--ckpt_path", CKPT, "--config", CONFIG],
     ["--ckpt_path is replaced by a later --config's ckpt_path", "give --ckpt_path after --config"]),
    ("test without a test split", ["test", "--ckpt_path", CKPT, "--data.test_fraction", "0"],
     ["no test split (--data.test_fraction 0), so there is nothing to test"]),
    ("validate without a validation split", ["validate", "--ckpt_path", CKPT, "--data.val_fraction", "0"],
     ["no validation split (--data.val_fraction 0), so there is nothing to validate"]),
    ("test of a run without a test split", ["test", "--ckpt_path", NO_TEST_CKPT],
     [f"--ckpt_path {NO_TEST_CKPT}: its run held out no test rows", "give other data: --data.path FILE"]),
    ("test with its loop off", ["test", "--ckpt_path", CKPT, "--trainer.limit_test_batches", "0"],
     ["--trainer.limit_test_batches 0: nothing to test"]),
    *[(f"predict with its loop cut to {limit}", ["predict", "--ckpt_path", CKPT, "--trainer.limit_predict_batches",
                                                  limit], [f"--trainer.limit_predict_batches {limit}: predict writes"])
      for limit in ("0", "0.5")],
    ("validate with its loop off", ["validate", "--ckpt_path", CKPT, "--trainer.limit_val_batches", "0"],
     ["--trainer.limit_val_batches 0: nothing to validate"]),
    *[(f"trainer {flag} {value}", ["fit", f"--trainer.{flag}", value], [f"--trainer.{flag} must be {words}"])
      for flag, value, words in [
          ("accumulate_grad_batches", "0", "an integer >= 1, got 0"),
          ("accumulate_grad_batches", "-1", "an integer >= 1, got -1"),
          ("check_val_every_n_epoch", "0", "an integer >= 1 (or null: by val_check_interval), got 0"),
          ("val_check_interval", "0", "a fraction in (0, 1] of the batches or a number of batches >= 1, got 0"),
          ("limit_val_batches", "-1", "a fraction in [0, 1] of the batches or a number of batches >= 0, got -1"),
          ("gradient_clip_val", "-1", "a finite number >= 0 (0 or null: no clipping), got -1"),
          ("log_every_n_steps", "-1", "an integer >= 0, got -1"),
          ("num_sanity_val_steps", "-2", "an integer >= 0, or -1 for every batch, got -2"),
          ("min_epochs", "-1", "an integer >= 0, got -1"),
      ]],
    *[(f"model {flags[0]} printed", ["fit", *flags, "--print_config"], [words])  # (the model's own checks)
      for flags, words in [(["--model.C", "inf", "--model.l2", "0.1"], "give l2 or C, not both"),
                           (["--model.tol", "0"], "tol must be a finite number > 0, got 0"),
                           (["--model.threshold", "2"], "threshold must be in (0, 1), got 2")]],
    *[(f"trainer {flag} {value} printed", ["fit", f"--trainer.{flag}={value}", "--print_config"],
       [f"--trainer.{flag} must be {words}"])  # (refused while parsing, as C above)
      for flag, value, words in [("gradient_clip_val", "-1", "a finite number >= 0"),
                                 ("max_epochs", "0", "an integer >= 1, or -1 for no limit, got 0")]],
    *[(f"YAML alias bomb as {flag}", ["fit", flag, "bomb.yaml"], [f"{flag} bomb.yaml: uses YAML aliases"])
      for flag in ("--model", "--data")],
    ("YAML alias bomb as a logger", ["fit", "--trainer.logger", "bomb.yaml"],
     ["trainer.logger", "a config uses YAML aliases (*name)"]),
    ("a failed fit under a new root directory", ["fit", "--trainer.default_root_dir", "new/root", "--model.lr", "-1"],
     ["lr must be > 0"]),
    ("a failed fit of a named run", ["fit", "--trainer.logger.version", "mine", "--model.lr", "-1"],
     ["lr must be > 0"]),
    ("an empty run name", ["fit", "--trainer.logger.version", ""], ["--trainer.logger.version: an empty name"]),
    ("a run name already taken", ["fit", "--trainer.default_root_dir", "ok", "--trainer.logger.version", "version_0"],
     ["--trainer.logger.version version_0: ok/lightning_logs/version_0 already exists (another run's)"]),
    *[(f"a run {key} that is a path: {name}", ["fit", f"--trainer.logger.{key}", name],
       [f"--trainer.logger.{key} {name}: a run name, not a path"])
      for key, name in [("version", "../../escape"), ("version", "a/b"), ("name", "..")]],
    *[(f"trainer {flag} {value}", ["fit", f"--trainer.{flag}", value],
       [f"--trainer.{flag} must be an integer >= 1, or -1 for no limit, got {value}"])
      for flag, value in [("max_epochs", "0"), ("max_epochs", "-2"), ("max_steps", "0")]],
    *[(f"{' '.join(args)}: one line naming the flag", args, [line])
      for args, line in [
          (["fit", "--data.test_fraction", "nan"], "--data.test_fraction nan: expected a finite number"),
          (["fit", "--data.batch_size", "1.5"], "--data.batch_size 1.5: expected an integer"),
          (["fit", "--data", "FileDataModule", "--data.path", "ab.csv", "--data.standardize", "maybe"],
           "--data.standardize maybe: expected true or false"),
          (["predict", "--ckpt_path", CKPT, "--overwrite", "maybe"], "--overwrite maybe: expected true or false"),
          (["predict", "--ckpt_path", CKPT, "--threshold", "nan"], "--threshold nan: expected a finite number or null"),
          (["fit", "--model.loss", "hinge"], "--model.loss hinge: expected one of 'bce', 'mse'"),
          (["fit", "--data.nope", "1"], "--data.nope 1: Option 'nope' is not accepted"),
          (["fit", "--data.label", "y"], "--data.path: required by logreg.FileDataModule"),
          (["predict", "--ckpt_path", CKPT, "--data.label", "y"], "--data.path: required by logreg.FileDataModule"),
          (["fit", "--config", "ab.csv"], "--config ab.csv: not a mapping of settings"),
          (["fit", "--trainer.devices", "0"], "--trainer.devices 0: `Trainer(devices='0')` value is not a valid"),
          *[(["fit", "--trainer.accelerator", "gpu"], "--trainer.accelerator gpu: No supported gpu backend found!")
            for _ in range(not torch.cuda.is_available())],
      ]],
]  # fmt: skip


# Each row is a whole command (parsing builds LightningCLI's parsers, about 0.5 s): the table is among the longest
# files, so it is scheduled with the slow ones (conftest).
pytestmark = pytest.mark.slow


def make_inputs(root: Path) -> None:
    for name, text in FILES.items():
        (root / name).write_text(text)
    (root / "binary.csv").write_bytes(b"\x00\xff\xfe\x00\x81garbage")
    (root / "gzipped.csv").write_bytes(gzip.compress(FILES["tiny.csv"].encode()))
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"]  # 9**10 elements once expanded, in 421 bytes
    bomb += [f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefghi", "bcdefghij", strict=True)]
    (root / "bomb.yaml").write_text("\n".join(bomb) + "\n")
    (root / "nonpy").mkdir()
    np.savez(root / "nanlabel.npz", x=np.zeros((3, 1), np.float32), y=np.array([0.0, np.nan, 1.0]))
    (root / "text.npz").write_text(FILES["text.csv"])
    os.mkfifo(root / "pipe.csv")
    with zipfile.ZipFile(root / "broken.npz", "w") as archive:
        archive.writestr("x.npy", b"not an array")
    (root / "mismatch").mkdir()
    np.save(root / "mismatch" / "x.npy", np.zeros((40, 2), np.float32))
    np.save(root / "mismatch" / "y.npy", np.zeros(39, np.int8))
    (root / "ok").mkdir()
    call_main("fit", "--trainer.max_epochs", "1", cwd=root / "ok")
    data = (root / CKPT).read_bytes()
    (root / "cut.ckpt").write_bytes(data[: len(data) // 3])
    (root / "notes.ckpt").write_text("not a checkpoint")
    torch.save({"weights": torch.zeros(2)}, root / "tensor.ckpt")  # loads with weights_only, but is no checkpoint
    torch.save({"state_dict": {}}, root / "bare.ckpt")
    checkpoint = torch.load(root / CKPT, weights_only=True)
    checkpoint["state_dict"]["linear.weight"] = torch.full((1, 1), float("nan"))
    torch.save(checkpoint, root / "nan.ckpt")
    checkpoint["state_dict"]["linear.weight"] = torch.zeros(1, 3)
    torch.save(checkpoint, root / "shape.ckpt")
    checkpoint["state_dict"]["linear.weight"] = torch.zeros(1, 1)
    del checkpoint["state_dict"]["feature_scale"]
    torch.save(checkpoint, root / "partial.ckpt")
    (root / "zero.ckpt").write_bytes(b"")
    checkpoint = torch.load(root / CKPT, weights_only=True)
    checkpoint["state_dict"]["head.weight"] = torch.zeros(2)  # all of logreg's tensors, and one more
    torch.save(checkpoint, root / "extra.ckpt")
    rows = "".join(f"{i},{i % 7},{int(i > 9)}\n" for i in range(20))
    (root / "ab.csv").write_text("a,b,label\n" + rows)
    (root / "ba.csv").write_text("b,a,label\n" + rows)
    (root / "xy.csv").write_text("a,b,label\n" + rows.replace(",0\n", ",x\n").replace(",1\n", ",y\n"))
    (root / "okfile").mkdir()
    call_main("fit", "--trainer.max_epochs", "1", "--data", "FileDataModule", "--data.path", "../ab.csv",
              cwd=root / "okfile")  # fmt: skip
    call_main("fit", "--trainer.max_epochs", "1", "--data", "FileDataModule", "--data.path", "../ab.csv",
              "--data.test_fraction", "0", cwd=root / "okfile")  # fmt: skip
    with (root / "evil.ckpt").open("wb") as handle:
        pickle.dump({"state_dict": Marker(root / "marker")}, handle)


class Marker:
    """Unpickling this would run ``os.system`` and create the marker file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory outside lightning_logs/, with size and modification time (a file's)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (0, 0)
        for p in root.rglob("*")
        if "lightning_logs" not in p.relative_to(root).parts[:1]
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    with figures_off():
        make_inputs(root)
    return root, snapshot(root)


@pytest.mark.parametrize(("name", "args", "words"), ROWS, ids=[row[0] for row in ROWS])
def test_bad_input(inputs, name, args, words):
    root, before = inputs
    logs = root / "lightning_logs"
    try:
        proc = call_main(*args, cwd=root, check=False)
        assert proc.returncode == 2, proc.stdout
        assert "Traceback" not in proc.stderr + proc.stdout
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("logreg: error: ")
        for word in words:
            assert word in lines[0], (word, lines[0])
        assert snapshot(root) == before  # nothing new or changed outside the runs' own log directories
        assert not (root / "marker").exists()  # the crafted pickle never ran
        assert len(run_dirs(root / "ok")) == 1
        assert not logs.exists()  # no run directory: none was claimed, or the failed run's was removed
    finally:
        shutil.rmtree(logs, ignore_errors=True)  # each row starts from the same directory


def test_export_without_the_extra(inputs, monkeypatch):
    """``logreg export`` where onnxscript is not installed: the install hint in one line, and no file."""
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # ``import onnxscript`` fails as if it were not installed
    args = ["export", "--ckpt_path", CKPT, "--output", "m.onnx"]
    test_bad_input(inputs, "export without the extra", args, ["needs onnxscript", "pip install 'logreg[export]'"])


def test_any_csv_text_loads_or_fails_with_a_value_error(tmp_path_factory):
    """Hypothesis is imported here, not at collection, where every xdist worker would pay for it."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=st.text(alphabet='0123456789,.-+eE\n\r "ab_xnaifINF\t;', max_size=300))
    def loads_or_fails_with_a_value_error(text):
        path = tmp_path_factory.mktemp("fuzz") / "random.csv"
        path.write_text(text)
        try:
            data = FileDataModule(path, label="a")
        except ValueError as err:
            assert str(err) and "\n" not in str(err)
            return
        assert data.features.dtype == torch.float32 and torch.isfinite(data.features).all()
        assert len(data.features) == len(data.labels)

    loads_or_fails_with_a_value_error()


@pytest.mark.parametrize(("args", "words"), [
    (["--trainer.limit_train_batches", "0"], ["--trainer.limit_train_batches must be", "for fit (0 trains nothing)"]),
    (["--trainer.max_time", "00:00:00:00"], ["--trainer.max_time must be a duration above 0", "got 00:00:00:00"]),
    (["--trainer.max_time", "{minutes: 0}"], ["--trainer.max_time must be a duration above 0"]),
])  # fmt: skip
def test_a_fit_that_would_train_nothing_is_refused(inputs, args, words):
    """It exited 0 with the starting model's test metrics, as --trainer.max_epochs 0 (refused) would have."""
    test_bad_input(inputs, "untrained fit", ["fit", "--trainer.max_epochs", "3", *args], words)


@pytest.mark.parametrize(("args", "words"), [
    (["fit", "--data.split_seed", str(2**64)], [f"split_seed must be >= 0 and < 2**64, got {2**64}"]),
    (["fit", "--seed_everything", str(2**64)], [f"--seed_everything {2**64}: must be an integer in [0, 2**32)"]),
    (["fit", "--trainer.strategy", "nope"], ["--trainer.strategy nope: You selected an invalid strategy name"]),
    (["fit", "--model.C", "-inf"], ["argument --model.C: expected one argument", "write --model.C=-inf"]),
    (["fit", "--model.init_weight", "-1e300"], ["--model.init_weight=-1e300"]),
    (["predict", "--ckpt_path", CKPT, "--predictions", "-"], ["--predictions -: not a file name", "/dev/stdout"]),
    (["predict", "--ckpt_path", CKPT, "--predictions", "  "], ["--predictions: an empty path"]),
])  # fmt: skip
def test_an_error_names_its_flag(inputs, args, words):
    """Errors that named no flag (Lightning's, numpy's, torch's words), or the wrong problem: a value starting with
    '-' taken for a flag; a --predictions file named '-' or blanks."""
    test_bad_input(inputs, "named flag", args, words)
