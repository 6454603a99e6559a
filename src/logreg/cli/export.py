"""``logreg export --ckpt_path CKPT --output model.onnx``: its flags and checks; the conversion is
:func:`logreg.export.to_onnx`'s."""

from __future__ import annotations

import sys
from pathlib import Path

from jsonargparse import ArgumentParser

from logreg.export import EXTRA_HINT, INPUT_NAME, OUTPUT_NAME, export_metadata, to_onnx
from logreg.writes import check_target, is_stdout, write_file


def export_command(args: list[str]) -> None:
    """Parse ``logreg export`` arguments, check every input before any work, export, and say what was written."""
    parser = ArgumentParser(
        prog="logreg export",
        description="Write a checkpoint as an ONNX model: raw float32 rows 'features' (batch, n_features) in, "
        "'probability' (batch, 1) = p(y=1) out; classes, feature names, threshold and logreg version in its "
        "metadata_props. Needs the export extra: " + EXTRA_HINT,
        exit_on_error=False,
    )
    parser.add_argument("--ckpt_path", type=str, required=True, help="logreg checkpoint (loaded with weights_only)")
    parser.add_argument("--output", type=str, required=True, help="the .onnx file to write")
    parser.add_argument("--overwrite", type=bool, default=False, help="replace an existing --output file")
    config = parser.parse_args(args)
    output, reads = config.output, config.ckpt_path
    if not output:  # (Path("") would be the current directory)
        raise ValueError("--output: an empty path; give a file name such as model.onnx")
    if Path(reads).exists() and Path(output).resolve() == Path(reads).resolve():
        raise ValueError(f"--output {output}: is {reads}, which this command reads; choose another file")
    check_target(output, f"--output {output}", config.overwrite)
    from logreg.predictions import OTHER_FORMATS

    if (suffix := Path(output).suffix.lower()) in OTHER_FORMATS - {".onnx"} | {".csv", ".tsv", ".txt"}:
        raise ValueError(f"--output {output}: the model is written as ONNX, not {suffix}; name a .onnx file")
    from logreg.checkpoint import load_model
    from logreg.training import quiet_known_noise

    quiet_known_noise()
    loaded = load_model(reads)
    from logreg.cli.lightning import check_not_run_file

    check_not_run_file(output, f"--output {output}", loaded.checkpoint, reads)
    model = loaded.model.float()  # the graph is float32, also for a model trained in float64
    metadata = export_metadata(loaded)
    write_file(output, to_onnx(model, metadata), label=f"--output {output}")
    print(f"wrote {output}: {INPUT_NAME} (batch, {model.hparams.n_inputs}) float32 -> {OUTPUT_NAME} (batch, 1), "
          f"classes {metadata['classes']}, threshold {metadata['threshold']}",
          file=sys.stderr if is_stdout(output) else sys.stdout)  # fmt: skip
