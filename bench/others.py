"""Optional comparisons: Dask bag (multiprocessing scheduler) and PySpark (local[2]).

Run only where the package is installed; otherwise the runner reports them as skipped.  They
implement the text workloads (word count, grep, distinct, tiny); other workloads are skipped.
Started as their own process like the baselines: ``python -m bench.others WORKLOAD IMPL MANIFEST
OUT``.
"""
import importlib.util
import pickle
import sys
import time

SUPPORTED = ("wordcount", "grep", "distinct", "tiny")


def available(impl):
    mod = {"dask": "dask.bag", "spark-rdd": "pyspark", "spark-df": "pyspark"}[impl]
    try:
        return importlib.util.find_spec(mod.split(".")[0]) is not None and (
            "." not in mod or importlib.util.find_spec(mod) is not None)
    except (ImportError, ValueError):
        return False


def run_dask(workload, paths):
    import dask
    import dask.bag as db

    from bench.corpus import GREP_PATTERN
    dask.config.set(scheduler="processes", num_workers=2)
    lines = db.from_sequence(paths, npartitions=len(paths)).map(_read_lines).flatten()
    if workload in ("wordcount", "tiny"):
        words = lines.map(bytes.split).flatten()
        return dict(words.frequencies(sort=False).compute())
    if workload == "grep":
        import re
        pat = GREP_PATTERN
        return lines.filter(lambda ln: re.search(pat, ln) is not None).count().compute()
    if workload == "distinct":
        return sorted(lines.map(bytes.split).flatten().distinct().compute())
    raise NotImplementedError(workload)


def _read_lines(path):
    with open(path, "rb") as f:
        return f.read().splitlines()


def run_spark(workload, paths, impl):
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[2]").appName("disco-bench")
             .config("spark.ui.enabled", "false").getOrCreate())
    try:
        from bench.corpus import GREP_PATTERN
        if impl == "spark-df":
            from pyspark.sql import functions as F
            df = spark.read.text(paths)
            if workload in ("wordcount", "tiny"):
                words = df.select(F.explode(F.split(F.col("value"), r"\s+")).alias("w")) \
                    .where(F.col("w") != "")
                return {r["w"].encode(): r["count"] for r in words.groupBy("w").count().collect()}
            if workload == "grep":
                return df.where(F.col("value").rlike(GREP_PATTERN.decode())).count()
            if workload == "distinct":
                words = df.select(F.explode(F.split(F.col("value"), r"\s+")).alias("w")) \
                    .where(F.col("w") != "")
                return [r["w"].encode() for r in words.distinct().orderBy("w").collect()]
        sc = spark.sparkContext
        lines = sc.textFile(",".join(paths), minPartitions=len(paths))
        if workload in ("wordcount", "tiny"):
            return {w.encode(): n for w, n in lines.flatMap(str.split).map(lambda w: (w, 1))
                    .reduceByKey(lambda a, b: a + b).collect()}
        if workload == "grep":
            import re
            pat = GREP_PATTERN.decode()
            return lines.filter(lambda ln: re.search(pat, ln) is not None).count()
        if workload == "distinct":
            return sorted(w.encode() for w in lines.flatMap(str.split).distinct().collect())
        raise NotImplementedError(workload)
    finally:
        spark.stop()


def main(argv=None):
    import json

    from bench.baselines import workload_inputs
    argv = sys.argv[1:] if argv is None else argv
    workload, impl, manifest_path, out = argv
    with open(manifest_path) as f:
        manifest = json.load(f)
    paths = workload_inputs(workload, manifest)
    t0 = time.perf_counter()
    if impl == "dask":
        answer = run_dask(workload, paths)
    else:
        answer = run_spark(workload, paths, impl)
    t1 = time.perf_counter()
    with open(out, "wb") as f:
        pickle.dump({"answer": answer, "compute_s": t1 - t0}, f)


if __name__ == "__main__":
    main()
