"""Writes the Parquet and Arrow files that tests/data_formats.rs and the data_* cases of
tests/errors read, with pyarrow (the reference writer), and a CSV of the same table written with
Python's shortest round-trip float text, against which the Rust reader's values are compared.

Run from the repository root: python tests/data_formats/make_files.py
(pyarrow 26; the files are committed, so the tests do not need Python.)
"""
import datetime
import os

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
ERRORS = os.path.join(HERE, "..", "errors", "data")

rng = np.random.default_rng(20261128)
ROWS = 1000

# The table every format must read to the same numbers. Row groups and record batches of 300 rows,
# so the reader has to join several.
y = rng.standard_normal(ROWS) * 3.0 + 1.0
k = rng.poisson(4.0, ROWS).astype(np.int64)
small = rng.integers(-100, 100, ROWS).astype(np.int32)
flag = rng.random(ROWS) < 0.3
x = rng.standard_normal((ROWS, 3))
z1 = rng.random(ROWS).astype(np.float32)
z2 = rng.random(ROWS).astype(np.float32)
table = pa.table(
    {
        "y": pa.array(y, pa.float64()),
        "k": pa.array(k, pa.int64()),
        "small": pa.array(small, pa.int32()),
        "flag": pa.array(flag, pa.bool_()),
        "x": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), pa.float64()), 3),
        "z[1]": pa.array(z1, pa.float32()),
        "z[2]": pa.array(z2, pa.float32()),
    }
)


def real(value):
    return repr(float(value))


with open(os.path.join(HERE, "table.csv"), "w") as out:
    out.write("y,k,small,flag,x[1],x[2],x[3],z[1],z[2]\n")
    for row in range(ROWS):
        cells = [real(y[row]), str(k[row]), str(small[row]), str(int(flag[row]))]
        cells += [real(v) for v in x[row]]
        cells += [real(z1[row]), real(z2[row])]
        out.write(",".join(cells) + "\n")

pq.write_table(table, os.path.join(HERE, "table.parquet"), row_group_size=300)  # snappy
pq.write_table(
    table, os.path.join(HERE, "table_plain.parquet"), row_group_size=300, compression="none"
)
feather.write_feather(table, os.path.join(HERE, "table.feather"), chunksize=300)  # lz4
feather.write_feather(
    table, os.path.join(HERE, "table_plain.arrow"), chunksize=300, compression="uncompressed"
)
with ipc.new_stream(os.path.join(HERE, "table.arrows"), table.schema) as writer:
    for batch in table.to_batches(max_chunksize=300):
        writer.write_batch(batch)

# Error cases: one problem each, in row 3 (1-based) where a cell is at fault.
def column(values, type_):
    return pa.array(values, type_)


pq.write_table(
    pa.table({"x": column([0.5, 1.5, None, 2.0], pa.float64())}),
    os.path.join(ERRORS, "null.parquet"),
)
feather.write_feather(
    pa.table({"x": column([0.5, 1.5, float("nan"), 2.0], pa.float64())}),
    os.path.join(ERRORS, "nan.feather"),
)
pq.write_table(
    pa.table({"k": column([1.0, 2.0, 2.5, 4.0], pa.float64())}),
    os.path.join(ERRORS, "real_for_int.parquet"),
)
pq.write_table(
    pa.table({"x": column([0.5, 1.5, 2.5, 3.5], pa.float64())}),
    os.path.join(ERRORS, "x4.parquet"),
)
feather.write_feather(
    pa.table({"x": column([0.5, 1.5, 2.5, 3.5], pa.float64())}),
    os.path.join(ERRORS, "x4_zstd.feather"),
    compression="zstd",
)
pq.write_table(
    pa.table({"x": column([0.5, 1.5, 2.5, 3.5], pa.float64())}),
    os.path.join(ERRORS, "x4_zstd.parquet"),
    compression="zstd",
)
day = datetime.date(2026, 11, 28)
pq.write_table(
    pa.table({"t": column([day, day, day, day], pa.date32())}),
    os.path.join(ERRORS, "dates.parquet"),
)
with open(os.path.join(ERRORS, "x4.parquet"), "rb") as good:
    whole = good.read()
with open(os.path.join(ERRORS, "truncated.parquet"), "wb") as out:
    out.write(whole[: len(whole) // 2])
